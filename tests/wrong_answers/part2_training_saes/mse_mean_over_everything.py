# targets: test_sae_loss
# The original exercise's reduction: MSE averaged over d_in as well, so lambda means something else.
def sae_loss(x, x_hat, z, decoder_norms, l1_coeff):
    mse = (x_hat - x).pow(2).mean()
    l1 = (z * decoder_norms).sum(-1).mean()
    return mse + l1_coeff * l1, mse, l1
