# targets: test_top_activations test_top_activations_matches_reference_at_scale
# Merges the new chunk BEFORE the running top-k: with a stable sort, later rows then win ties.
@torch.no_grad()
def top_activations(sae, acts, k, chunk_size=4096):
    values = rows = None
    for start in range(0, len(acts), chunk_size):
        z = sae.encode(acts[start : start + chunk_size]).T
        chunk_rows = torch.arange(start, start + z.shape[1]).expand_as(z)
        if values is not None:
            z, chunk_rows = torch.cat([z, values], 1), torch.cat([chunk_rows, rows], 1)
        order = torch.sort(z, dim=1, descending=True, stable=True).indices[:, :k]
        values, rows = z.gather(1, order), chunk_rows.gather(1, order)
    return values, rows
