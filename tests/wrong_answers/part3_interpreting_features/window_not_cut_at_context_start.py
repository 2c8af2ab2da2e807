# targets: test_example_window
# Cut only at the document's start: the window shows tokens from before the context the model saw.
def example_window(store, values, row, doc_tokens, before=12, after=4):
    p, c = int(store.positions[row]), int(store.context_pos[row])
    start = p - c
    lo = max(0, p - before)
    hi = min(start + store.metadata["ctx_len"], len(doc_tokens), p + after + 1)
    q = torch.arange(lo, hi)
    r = (row + q - p).clamp(0, len(store) - 1)
    same = ((row + q - p >= 0) & (row + q - p < len(store)) & (store.doc_ids[r] == store.doc_ids[row])
            & (store.positions[r] == q) & (store.context_pos[r] == q - start))
    acts = torch.where(same, values[r].float(), torch.tensor(float("nan")))
    return doc_tokens[lo:hi], acts, p - lo
