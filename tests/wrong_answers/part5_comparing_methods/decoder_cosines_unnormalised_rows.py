# targets: test_decoder_cosines
# Normalises the direction but not the decoder rows.
def decoder_cosines(direction, W_dec):
    return W_dec @ F.normalize(direction, dim=0)
