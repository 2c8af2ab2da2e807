# targets: test_decoder_matches
# Returns the k smallest cosines.
def decoder_matches(narrow, wide, k):
    cosines = F.normalize(narrow.W_dec, dim=-1) @ F.normalize(wide.W_dec, dim=-1).T
    best = cosines.topk(k, dim=-1, largest=False)
    return best.values, best.indices
