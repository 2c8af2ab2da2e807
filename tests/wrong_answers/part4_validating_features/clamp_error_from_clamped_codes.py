# targets: test_clamp_latent test_ablation_effect
# Computes the error term from the clamped codes, x - decode(z'), which cancels the clamp exactly.
@contextmanager
def clamp_latent(model, layer, sae, feature, value, positions=None):
    def clamp(resid):
        x = resid if positions is None else resid[:, positions]
        z = sae.encode(x)
        clamped = z.clone()
        if value is not None:
            clamped[..., feature] = value
        new = sae.decode(clamped) + (x - sae.decode(clamped))
        if positions is None:
            return new
        out = resid.clone()
        out[:, positions] = new
        return out

    with patch_residual(model, layer, clamp):
        yield
