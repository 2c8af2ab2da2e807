# targets: test_score_explanation
# Detection counted over every token, also those whose real activation is NaN (taken as not firing).
def score_explanation(simulated, real):
    scored = ~real.isnan()
    s, r = simulated[scored].double(), real[scored].double()
    pearson = 0.0 if s.std() == 0 or r.std() == 0 else torch.corrcoef(torch.stack([s, r]))[0, 1].item()
    fires, predicted = real.nan_to_num(0).flatten() > 0, simulated.flatten() > 0
    rates = [predicted[fires == cls].eq(cls).double().mean().item() for cls in (True, False) if (fires == cls).any()]
    return {"pearson": pearson, "balanced_accuracy": sum(rates) / len(rates)}
