# targets: test_shrinkage
# Averages the norm ratio over tokens where no latent fires too.
def shrinkage(x, x_hat, b_dec):
    target, written = x - b_dec, x_hat - b_dec
    return {"norm_ratio": (written.norm(dim=-1) / target.norm(dim=-1)).mean().item(),
            "best_scale": ((target * written).sum() / written.square().sum()).item()}
