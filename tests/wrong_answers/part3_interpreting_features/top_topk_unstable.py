# targets: test_top_activations test_top_activations_matches_reference_at_scale
# torch.topk for the merge: it promises no order among equal values, so ties need not keep the earlier row first.
@torch.no_grad()
def top_activations(sae, acts, k, chunk_size=4096):
    values = rows = None
    for start in range(0, len(acts), chunk_size):
        z = sae.encode(acts[start : start + chunk_size]).T
        chunk_rows = torch.arange(start, start + z.shape[1]).expand_as(z)
        if values is not None:
            z, chunk_rows = torch.cat([values, z], 1), torch.cat([rows, chunk_rows], 1)
        order = z.topk(k, dim=1).indices
        values, rows = z.gather(1, order), chunk_rows.gather(1, order)
    return values, rows
