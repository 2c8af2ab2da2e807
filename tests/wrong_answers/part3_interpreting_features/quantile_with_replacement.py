# targets: test_quantile_rows
# Samples with replacement (torch.randint): a row can be drawn twice, and a small bin still gives per_bin rows.
def quantile_rows(values, n_bins=4, per_bin=3, seed=0):
    firing = torch.nonzero(values > 0).squeeze(1)
    ranked = firing[torch.argsort(values[firing], stable=True)]
    generator = torch.Generator().manual_seed(seed)
    return [b[torch.randint(len(b), (per_bin,), generator=generator)] for b in ranked.tensor_split(n_bins)]
