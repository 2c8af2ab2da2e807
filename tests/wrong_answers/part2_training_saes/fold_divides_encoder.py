# targets: test_fold_decoder_norms
# Divides the encoder by the norms as well: the codes shrink instead of absorbing the norms.
@torch.no_grad()
def fold_decoder_norms(sae):
    norms = sae.W_dec.norm(dim=-1)
    sae.W_dec.data = sae.W_dec.data / norms[:, None]
    sae.W_enc.data = sae.W_enc.data / norms
    sae.b_enc.data = sae.b_enc.data / norms
