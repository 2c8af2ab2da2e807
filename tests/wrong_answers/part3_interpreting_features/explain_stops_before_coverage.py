# targets: test_explain_tokens
# Keeps only the ids whose cumulative mass stays below coverage: the id that crosses it is dropped.
def explain_tokens(token_ids, acts, max_size=8, coverage=0.8):
    ids, inverse = token_ids.flatten().unique(return_inverse=True)
    mass = torch.zeros(len(ids)).index_add_(0, inverse, acts.flatten().nan_to_num(0).clamp(min=0).float())
    ranked = torch.sort(mass, descending=True, stable=True)
    needed = int((ranked.values.cumsum(0) < coverage * mass.sum()).sum())
    kept = ranked.indices[: min(needed, max_size)]
    return {int(ids[i]): 1.0 for i in kept if mass[i] > 0}
