# targets: test_feature_stats
# Divides by the raw firing count: a latent that never fires gets 0 / 0 = NaN instead of 0.
@torch.no_grad()
def feature_stats(sae, acts, chunk_size=4096):
    count = total = peak = None
    for chunk in acts.split(chunk_size):
        z = sae.encode(chunk)
        if count is None:
            count, total, peak = (torch.zeros(z.shape[-1]) for _ in range(3))
        count += (z > 0).sum(0)
        total += z.sum(0)
        peak = torch.maximum(peak, z.max(0).values)
    return {"frequency": count / len(acts), "mean_when_firing": total / count, "max": peak}
