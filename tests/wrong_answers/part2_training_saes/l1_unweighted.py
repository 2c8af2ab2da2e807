# targets: test_sae_loss
# The plain L1 with free decoder rows: the penalty can then be dodged by shrinking codes and growing rows.
def sae_loss(x, x_hat, z, decoder_norms, l1_coeff):
    mse = (x_hat - x).pow(2).sum(-1).mean()
    l1 = z.sum(-1).mean()
    return mse + l1_coeff * l1, mse, l1
