# targets: test_steered_kl
# Measures the last position only.
@torch.no_grad()
def steered_kl(model, layer, vector, tokens):
    clean = model(input_ids=tokens, use_cache=False).logits[:, -1].log_softmax(-1)
    with patch_residual(model, layer, lambda resid: resid + vector):
        steered = model(input_ids=tokens, use_cache=False).logits[:, -1].log_softmax(-1)
    return (clean.exp() * (clean - steered)).sum(-1).mean().item()
