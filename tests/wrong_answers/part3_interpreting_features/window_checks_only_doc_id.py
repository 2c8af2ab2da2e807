# targets: test_example_window
# A neighbouring row counts as the same token if it is from the same document, without checking its position
# and context: another context of the document gives activations to dropped positions.
def example_window(store, values, row, doc_tokens, before=12, after=4):
    p, c = int(store.positions[row]), int(store.context_pos[row])
    start = p - c
    lo = max(start, p - before)
    hi = min(start + store.metadata["ctx_len"], len(doc_tokens), p + after + 1)
    q = torch.arange(lo, hi)
    r = (row + q - p).clamp(0, len(store) - 1)
    same = (row + q - p >= 0) & (row + q - p < len(store)) & (store.doc_ids[r] == store.doc_ids[row])
    acts = torch.where(same, values[r].float(), torch.tensor(float("nan")))
    return doc_tokens[lo:hi], acts, p - lo
