# targets: test_decoder_matches
# Ranks by dot products of decoder rows that are not unit vectors.
def decoder_matches(narrow, wide, k):
    best = (narrow.W_dec @ wide.W_dec.T).topk(k, dim=-1)
    return best.values, best.indices
