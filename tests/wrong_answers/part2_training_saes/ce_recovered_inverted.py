# targets: test_ce_loss_recovered
_reference_ce = ce_loss_recovered
def ce_loss_recovered(model, sae, tokens, layer, skip_first):
    out = _reference_ce(model, sae, tokens, layer, skip_first)
    out["recovered"] = (out["sae"] - out["clean"]) / (out["zero_ablated"] - out["clean"])
    return out
