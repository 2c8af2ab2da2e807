# targets: test_apply_saved_sae
"""Ignores apply_b_dec_to_input: always subtracts b_dec before encoding, as our own SAE does."""
def apply_saved_sae(tensors, cfg, x):
    if cfg.get("architecture", "standard") != "standard" or x.shape[-1] != cfg["d_in"]:
        raise ValueError("cannot apply")
    normalisation = cfg.get("normalize_activations", "none")
    if normalisation not in ("none", "constant_norm_rescale"):
        raise ValueError(normalisation)
    scale = cfg["d_in"] ** 0.5 / x.norm(dim=-1, keepdim=True) if normalisation != "none" else torch.ones_like(x[..., :1])
    z = F.relu((x * scale - tensors["b_dec"]) @ tensors["W_enc"] + tensors["b_enc"])
    return (z @ tensors["W_dec"] + tensors["b_dec"]) / scale, z
