# targets: test_ablation_effect
# Decides where the latent fires one position late: at the predicted token, not the predicting one.
@torch.no_grad()
def ablation_effect(model, sae, feature, tokens, layer, value=0.0, skip_first=4):
    positions = list(range(skip_first, tokens.shape[1]))
    fires = sae.encode(models.residual_stream(model, tokens, layer))[:, skip_first + 1:, feature] > 0
    clean = next_token_losses(model, tokens)[:, skip_first:]
    with clamp_latent(model, layer, sae, feature, value, positions):
        ablated = next_token_losses(model, tokens)[:, skip_first:]
    delta = ablated - clean
    mean = lambda d: d.mean().item() if d.numel() else math.nan
    return {"firing": mean(delta[fires]), "not_firing": mean(delta[~fires]),
            "n_firing": int(fires.sum()), "n_not_firing": int((~fires).sum())}
