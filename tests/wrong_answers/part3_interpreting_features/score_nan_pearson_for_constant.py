# targets: test_score_explanation
# torch.corrcoef without the constant case: a constant prediction gets a NaN correlation instead of 0.
def score_explanation(simulated, real):
    scored = ~real.isnan()
    s, r = simulated[scored].double(), real[scored].double()
    pearson = torch.corrcoef(torch.stack([s, r]))[0, 1].item()
    fires, predicted = r > 0, s > 0
    rates = [predicted[fires == cls].eq(cls).double().mean().item() for cls in (True, False) if (fires == cls).any()]
    return {"pearson": pearson, "balanced_accuracy": sum(rates) / len(rates)}
