# targets: test_ce_loss_recovered
"""The loss increase reported as the ratio CE_sae / CE_clean (and its percentage as 100 times that), not in nats."""
_reference_ce = ce_loss_recovered
def ce_loss_recovered(model, sae, tokens, layer, skip_first):
    out = _reference_ce(model, sae, tokens, layer, skip_first)
    out["increase"] = out["sae"] / out["clean"]
    out["increase_pct"] = 100 * out["increase"]
    return out
