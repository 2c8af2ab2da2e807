# targets: test_quantile_rows
# Bins of equal width over the value range instead of equal numbers of rows.
def quantile_rows(values, n_bins=4, per_bin=3, seed=0):
    firing = torch.nonzero(values > 0).squeeze(1)
    lo, hi = values[firing].min(), values[firing].max()
    which = ((values[firing] - lo) / (hi - lo) * n_bins).long().clamp(max=n_bins - 1)
    generator = torch.Generator().manual_seed(seed)
    bins = [firing[which == b] for b in range(n_bins)]
    return [b[torch.randperm(len(b), generator=generator)[:per_bin]] for b in bins]
