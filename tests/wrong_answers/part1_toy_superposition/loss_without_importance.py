# targets: test_importance_weighted_loss test_dense_regime_keeps_two_orthogonal_features
def importance_weighted_loss(out, x, importance):
    return einops.reduce((x - out) ** 2, "batch inst feat -> inst", "mean")
