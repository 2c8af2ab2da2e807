# targets: test_fold_decoder_norms
# Scales the encoder's weights but not b_enc: each latent's threshold moves, so codes change.
@torch.no_grad()
def fold_decoder_norms(sae):
    norms = sae.W_dec.norm(dim=-1)
    sae.W_dec.data = sae.W_dec.data / norms[:, None]
    sae.W_enc.data = sae.W_enc.data * norms
