# targets: test_ce_loss_recovered
@torch.no_grad()
def ce_loss_recovered(model, sae, tokens, layer, skip_first):
    mean_loss = lambda: next_token_losses(model, tokens).mean().item()
    clean = mean_loss()
    with patch_residual(model, layer, lambda r: sae(r)[0]):
        spliced = mean_loss()
    with patch_residual(model, layer, torch.zeros_like):
        zeroed = mean_loss()
    return {"clean": clean, "sae": spliced, "zero_ablated": zeroed, "recovered": (zeroed - spliced) / (zeroed - clean)}
