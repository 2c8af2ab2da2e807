# targets: test_ce_loss_recovered
# Registers the splice hook by hand and never removes it.
@torch.no_grad()
def ce_loss_recovered(model, sae, tokens, layer, skip_first):
    clean = next_token_losses(model, tokens)[:, skip_first:].mean().item()
    def hook(module, inputs, output):
        resid = output[0] if isinstance(output, tuple) else output
        resid = resid.clone()
        resid[:, skip_first:] = sae(resid[:, skip_first:])[0]
        return (resid, *output[1:]) if isinstance(output, tuple) else resid
    models.get_blocks(model)[layer].register_forward_hook(hook)
    spliced = next_token_losses(model, tokens)[:, skip_first:].mean().item()
    return {"clean": clean, "sae": spliced, "zero_ablated": 0.0, "recovered": 0.0}
