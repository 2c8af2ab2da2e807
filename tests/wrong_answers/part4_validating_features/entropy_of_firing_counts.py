# targets: test_monosemanticity
# The token distribution counts firing tokens instead of weighing them by activation mass.
def monosemanticity(token_ids, acts, explanation):
    total = acts.sum()
    if total <= 0:
        return {"mass_share": 0.0, "entropy": 0.0, "effective_tokens": 1.0}
    covered = torch.isin(token_ids, torch.tensor(list(explanation), dtype=token_ids.dtype))
    firing = token_ids[acts > 0]
    p = torch.bincount(firing).double()
    p = p[p > 0] / p.sum()
    entropy = -(p * p.log2()).sum().item()
    return {"mass_share": (acts[covered].sum() / total).item(), "entropy": entropy, "effective_tokens": 2 ** entropy}
