# targets: test_steering_effect
# Steers along the latent's encoder column (what it reads), not its decoder row (what it writes).
@torch.no_grad()
def steering_effect(model, sae, feature, tokens, layer, alphas, k=5):
    direction = F.normalize(sae.W_enc[:, feature], dim=-1)
    clean = model(input_ids=tokens, use_cache=False).logits[:, -1].log_softmax(-1)
    kl, promoted = [], []
    for alpha in alphas:
        with steering_hook(model, layer, alpha * direction):
            steered = model(input_ids=tokens, use_cache=False).logits[:, -1].log_softmax(-1)
        kl.append((clean.exp() * (clean - steered)).sum(-1).mean())
        promoted.append((steered - clean).mean(0).topk(k).indices)
    return {"kl": torch.stack(kl), "promoted": torch.stack(promoted)}
