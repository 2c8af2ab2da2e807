# targets: test_sae_loss
def sae_loss(x, x_hat, z, decoder_norms, l1_coeff):
    mse = (x_hat - x).pow(2).sum(-1).mean()
    l1 = x_hat.abs().sum(-1).mean()
    return mse + l1_coeff * l1, mse, l1
