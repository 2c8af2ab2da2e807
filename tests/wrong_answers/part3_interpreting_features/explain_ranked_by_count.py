# targets: test_explain_tokens
# Ranks token ids by how often they occur in the top windows, not by their activation mass.
def explain_tokens(token_ids, acts, max_size=8, coverage=0.8):
    ids, inverse, counts = token_ids.flatten().unique(return_inverse=True, return_counts=True)
    mass = torch.zeros(len(ids)).index_add_(0, inverse, acts.flatten().nan_to_num(0).clamp(min=0).float())
    ranked = torch.sort(counts.float(), descending=True, stable=True)
    needed = int((mass[ranked.indices].cumsum(0) < coverage * mass.sum()).sum()) + 1
    kept = ranked.indices[: min(needed, max_size)]
    return {int(ids[i]): 1.0 for i in kept if mass[i] > 0}
