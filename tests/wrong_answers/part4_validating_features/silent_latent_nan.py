# targets: test_monosemanticity
# Divides by the total mass without guarding a latent that never fires: NaN.
def monosemanticity(token_ids, acts, explanation):
    total = acts.sum()
    covered = torch.isin(token_ids, torch.tensor(list(explanation), dtype=token_ids.dtype))
    ids, inverse = token_ids.unique(return_inverse=True)
    p = torch.zeros(len(ids), dtype=torch.float64).index_add_(0, inverse, acts.double()) / total.double()
    entropy = -(p * p.log2()).nan_to_num(0).sum().item()
    return {"mass_share": (acts[covered].sum() / total).item(), "entropy": entropy, "effective_tokens": 2 ** entropy}
