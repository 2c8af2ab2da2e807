# targets: test_steering_effect
# Steers along the decoder row without normalising it, so alpha is not in units of length.
@torch.no_grad()
def steering_effect(model, sae, feature, tokens, layer, alphas, k=5):
    direction = sae.W_dec[feature]
    clean = model(input_ids=tokens, use_cache=False).logits[:, -1].log_softmax(-1)
    kl, promoted = [], []
    for alpha in alphas:
        with steering_hook(model, layer, alpha * direction):
            steered = model(input_ids=tokens, use_cache=False).logits[:, -1].log_softmax(-1)
        kl.append((clean.exp() * (clean - steered)).sum(-1).mean())
        promoted.append((steered - clean).mean(0).topk(k).indices)
    return {"kl": torch.stack(kl), "promoted": torch.stack(promoted)}
