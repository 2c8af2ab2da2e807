# targets: test_span_fractions
# Treats the decoder directions as orthogonal: adds up squared cosines.
def span_fractions(direction, W_dec, order, ks):
    cosines = F.normalize(W_dec[order], dim=-1) @ F.normalize(direction, dim=0)
    return torch.stack([cosines[:k].square().sum().sqrt() for k in ks])
