# targets: test_toy_sae_loss
def _loss(self, h, l1_coeff):
    z, h_hat = self(h)
    return ((h - h_hat).pow(2).sum(-1) + l1_coeff * h_hat.abs().sum(-1)).mean(0)
ToySAE.loss = _loss
