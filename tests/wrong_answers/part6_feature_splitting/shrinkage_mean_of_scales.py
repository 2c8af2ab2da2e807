# targets: test_shrinkage
# Averages a scale per token instead of one least-squares scale.
def shrinkage(x, x_hat, b_dec):
    target, written = x - b_dec, x_hat - b_dec
    lengths = written.norm(dim=-1)
    kept = lengths > 0
    ratios = lengths[kept] / target[kept].norm(dim=-1)
    return {"norm_ratio": ratios.mean().item(), "best_scale": (1 / ratios).mean().item()}
