# targets: test_massive_activations
def variance_share_of_first_positions(acts, context_pos, k):
    sq = acts.pow(2).sum(-1)
    return (sq[context_pos < k].sum() / sq.sum()).item()
