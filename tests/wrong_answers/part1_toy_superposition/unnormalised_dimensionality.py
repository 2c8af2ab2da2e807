# targets: test_feature_dimensionality
# Forgets to normalise W_i in the denominator.
def feature_dimensionality(W, eps=1e-8):
    overlaps = einops.einsum(W, W, "inst hidden i, inst hidden j -> inst i j") ** 2
    return W.norm(dim=1) ** 2 / (overlaps.sum(-1) + eps)
