# targets: test_shrinkage
# Measures ||x_hat|| / ||x|| and the scale without subtracting b_dec.
def shrinkage(x, x_hat, b_dec):
    lengths = x_hat.norm(dim=-1)
    kept = (x_hat - b_dec).norm(dim=-1) > 0
    return {"norm_ratio": (lengths[kept] / x[kept].norm(dim=-1)).mean().item(),
            "best_scale": ((x * x_hat).sum() / x_hat.square().sum()).item()}
