# targets: test_activation_alpha
# An unknown (NaN) activation is treated like a silent token: α 0 instead of NaN, so the page cannot grey it out.
def activation_alpha(acts, max_act):
    acts = acts.float().nan_to_num(0.0)
    return (acts / max_act).clamp(0, 1) if max_act > 0 else torch.zeros_like(acts)
