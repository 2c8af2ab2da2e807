# targets: test_shrinkage
# Returns 1 / s*: the scale that maps x onto x_hat.
def shrinkage(x, x_hat, b_dec):
    target, written = x - b_dec, x_hat - b_dec
    lengths = written.norm(dim=-1)
    kept = lengths > 0
    return {"norm_ratio": (lengths[kept] / target[kept].norm(dim=-1)).mean().item(),
            "best_scale": ((target * written).sum() / target.square().sum()).item()}
