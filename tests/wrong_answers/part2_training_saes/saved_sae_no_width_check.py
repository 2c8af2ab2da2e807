# targets: test_apply_saved_sae
"""Never checks the activations' width against d_in (and accepts any normalisation as none): activations of the
wrong hook point or model are silently encoded, or fail with a shape error instead of a ValueError."""
def apply_saved_sae(tensors, cfg, x):
    scale = (cfg["d_in"] ** 0.5 / x.norm(dim=-1, keepdim=True) if cfg.get("normalize_activations") == "constant_norm_rescale"
             else torch.ones_like(x[..., :1]))
    x_in = x * scale - tensors["b_dec"] if cfg.get("apply_b_dec_to_input", True) else x * scale
    z = F.relu(x_in @ tensors["W_enc"] + tensors["b_enc"])
    return (z @ tensors["W_dec"] + tensors["b_dec"]) / scale, z
