# targets: test_ce_loss_recovered
"""The KL divergence the wrong way round: KL(spliced ‖ clean) instead of KL(clean ‖ spliced)."""
_reference_ce = ce_loss_recovered
def ce_loss_recovered(model, sae, tokens, layer, skip_first):
    out = _reference_ce(model, sae, tokens, layer, skip_first)
    def log_probs(patch=None):
        if patch is None:
            return model(input_ids=tokens).logits[:, skip_first:-1].log_softmax(-1)
        with patch_residual(model, layer, patch):
            return model(input_ids=tokens).logits[:, skip_first:-1].log_softmax(-1)
    def splice(resid):
        patched = resid.clone()
        patched[:, skip_first:] = sae(resid[:, skip_first:])[0]
        return patched
    clean, spliced = log_probs(), log_probs(splice)
    out["kl"] = (spliced.exp() * (spliced - clean)).sum(-1).mean().item()
    return out
