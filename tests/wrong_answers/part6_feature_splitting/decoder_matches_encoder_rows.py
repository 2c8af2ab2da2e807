# targets: test_decoder_matches
# Matches latents by their encoder columns.
def decoder_matches(narrow, wide, k):
    cosines = F.normalize(narrow.W_enc.T, dim=-1) @ F.normalize(wide.W_enc.T, dim=-1).T
    best = cosines.topk(k, dim=-1)
    return best.values, best.indices
