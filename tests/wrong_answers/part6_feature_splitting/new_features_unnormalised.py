# targets: test_new_features
# Compares dot products of unnormalised rows with the threshold.
def new_features(narrow, wide, threshold):
    best = (wide.W_dec @ narrow.W_dec.T).amax(-1)
    return torch.nonzero(best < threshold).squeeze(1)
