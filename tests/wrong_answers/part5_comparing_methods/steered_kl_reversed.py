# targets: test_steered_kl
# KL(Q || P): weighs the log-ratio by the steered distribution.
@torch.no_grad()
def steered_kl(model, layer, vector, tokens):
    clean = model(input_ids=tokens, use_cache=False).logits.log_softmax(-1)
    with patch_residual(model, layer, lambda resid: resid + vector):
        steered = model(input_ids=tokens, use_cache=False).logits.log_softmax(-1)
    return (steered.exp() * (steered - clean)).sum(-1).mean().item()
