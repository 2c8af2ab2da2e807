# targets: test_monosemanticity
# Measures the entropy with the natural log: nats, where the exercise asks for bits.
def monosemanticity(token_ids, acts, explanation):
    total = acts.sum()
    if total <= 0:
        return {"mass_share": 0.0, "entropy": 0.0, "effective_tokens": 1.0}
    covered = torch.isin(token_ids, torch.tensor(list(explanation), dtype=token_ids.dtype))
    ids, inverse = token_ids.unique(return_inverse=True)
    p = torch.zeros(len(ids), dtype=torch.float64).index_add_(0, inverse, acts.double()) / total.double()
    p = p[p > 0]
    entropy = -(p * p.log()).sum().item()
    return {"mass_share": (acts[covered].sum() / total).item(), "entropy": entropy, "effective_tokens": math.exp(entropy)}
