# targets: test_lookup_and_simulate
# The table holds each token's total activation, not its mean.
def token_lookup_table(token_ids, acts):
    known = ~acts.isnan()
    ids, inverse = token_ids[known].unique(return_inverse=True)
    total = torch.zeros(len(ids), dtype=torch.float64).index_add_(0, inverse, acts[known].double())
    return dict(zip(ids.tolist(), total.tolist()))
