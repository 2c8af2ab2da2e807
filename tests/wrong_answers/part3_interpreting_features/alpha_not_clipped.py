# targets: test_activation_alpha
# α = a / max_act is not clipped to [0, 1]: a token above max_act gets α > 1, a negative one α < 0.
def activation_alpha(acts, max_act):
    acts = acts.float()
    return acts / max_act if max_act > 0 else torch.where(acts.isnan(), acts, torch.zeros_like(acts))
