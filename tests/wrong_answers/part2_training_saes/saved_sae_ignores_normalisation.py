# targets: test_apply_saved_sae
"""Reads normalize_activations nowhere: every SAE is applied to raw activations, whatever its config says."""
def apply_saved_sae(tensors, cfg, x):
    if cfg.get("architecture", "standard") != "standard" or x.shape[-1] != cfg["d_in"]:
        raise ValueError("cannot apply")
    x_in = x - tensors["b_dec"] if cfg.get("apply_b_dec_to_input", True) else x
    z = F.relu(x_in @ tensors["W_enc"] + tensors["b_enc"])
    return z @ tensors["W_dec"] + tensors["b_dec"], z
