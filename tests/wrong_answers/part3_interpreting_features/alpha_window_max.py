# targets: test_activation_alpha
# Each window is scaled by its own largest activation, not by the latent's max_act: every example looks as strong as the top one.
def activation_alpha(acts, max_act):
    acts = acts.float()
    peak = acts.nan_to_num(float("-inf")).amax(-1, keepdim=True)
    alpha = (acts / peak).clamp(0, 1) if max_act > 0 else torch.zeros_like(acts)
    return torch.where(acts.isnan(), torch.tensor(float("nan")), alpha)
