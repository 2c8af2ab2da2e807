# targets: test_new_features
# Lists narrow latents without a wide match instead of wide latents without a narrow one.
def new_features(narrow, wide, threshold):
    best = decoder_matches(narrow, wide, 1)[0][:, 0]
    return torch.nonzero(best < threshold).squeeze(1)
