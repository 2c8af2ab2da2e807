# targets: test_steering_effect
# Computes KL(steered || clean) instead of KL(clean || steered).
@torch.no_grad()
def steering_effect(model, sae, feature, tokens, layer, alphas, k=5):
    direction = F.normalize(sae.W_dec[feature], dim=-1)
    clean = model(input_ids=tokens, use_cache=False).logits[:, -1].log_softmax(-1)
    kl, promoted = [], []
    for alpha in alphas:
        with steering_hook(model, layer, alpha * direction):
            steered = model(input_ids=tokens, use_cache=False).logits[:, -1].log_softmax(-1)
        kl.append((steered.exp() * (steered - clean)).sum(-1).mean())
        promoted.append((steered - clean).mean(0).topk(k).indices)
    return {"kl": torch.stack(kl), "promoted": torch.stack(promoted)}
