# targets: test_quantile_rows
# Ranks all rows, including those where the latent does not fire: the lowest bin is all zeros.
def quantile_rows(values, n_bins=4, per_bin=3, seed=0):
    ranked = torch.argsort(values, stable=True)
    generator = torch.Generator().manual_seed(seed)
    return [b[torch.randperm(len(b), generator=generator)[:per_bin]] for b in ranked.tensor_split(n_bins)]
