# targets: test_feature_attribution
# Leaves the decoder bias out of the constant: the parts no longer add up to the pre-activation.
def feature_attribution(components, sae, feature):
    w = sae.W_enc[:, feature]
    return components @ w, sae.b_enc[feature].item()
