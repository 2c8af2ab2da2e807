# targets: test_score_explanation
# NaN real activations are scored as 0 instead of being left out of both sides.
def score_explanation(simulated, real):
    s, r = simulated.flatten().double(), real.nan_to_num(0).flatten().double()
    pearson = 0.0 if s.std() == 0 or r.std() == 0 else torch.corrcoef(torch.stack([s, r]))[0, 1].item()
    fires, predicted = r > 0, s > 0
    rates = [predicted[fires == cls].eq(cls).double().mean().item() for cls in (True, False) if (fires == cls).any()]
    return {"pearson": pearson, "balanced_accuracy": sum(rates) / len(rates)}
