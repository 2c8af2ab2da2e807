# targets: test_lookup_and_simulate
# NaN activations are not left out: a token seen only with NaN gets a NaN entry.
def token_lookup_table(token_ids, acts):
    ids, inverse = token_ids.flatten().unique(return_inverse=True)
    total = torch.zeros(len(ids), dtype=torch.float64).index_add_(0, inverse, acts.flatten().double())
    count = torch.bincount(inverse, minlength=len(ids))
    return dict(zip(ids.tolist(), (total / count).tolist()))
