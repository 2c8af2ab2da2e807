# targets: test_feature_attribution
# Projects the components on the decoder row instead of the encoder column.
def feature_attribution(components, sae, feature):
    w = sae.W_dec[feature]
    return components @ w, (sae.b_enc[feature] - sae.b_dec @ w).item()
