# targets: test_massive_activations
def median_norm_by_position(acts, context_pos, ctx_len):
    norms = acts.norm(dim=-1)
    return torch.stack([norms[context_pos == p].mean() for p in range(ctx_len)])
