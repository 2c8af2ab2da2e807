# targets: test_apply_saved_sae
"""constant_norm_rescale applied to the input but never undone: the reconstruction stays in the rescaled units."""
def apply_saved_sae(tensors, cfg, x):
    if cfg.get("architecture", "standard") != "standard" or x.shape[-1] != cfg["d_in"]:
        raise ValueError("cannot apply")
    normalisation = cfg.get("normalize_activations", "none")
    if normalisation not in ("none", "constant_norm_rescale"):
        raise ValueError(normalisation)
    if normalisation == "constant_norm_rescale":
        x = x * cfg["d_in"] ** 0.5 / x.norm(dim=-1, keepdim=True)
    x_in = x - tensors["b_dec"] if cfg.get("apply_b_dec_to_input", True) else x
    z = F.relu(x_in @ tensors["W_enc"] + tensors["b_enc"])
    return z @ tensors["W_dec"] + tensors["b_dec"], z
