# targets: test_score_explanation
# (TPR + TNR) / 2 always: when every token fires (or none does), the missing rate is NaN.
def score_explanation(simulated, real):
    scored = ~real.isnan()
    s, r = simulated[scored].double(), real[scored].double()
    pearson = 0.0 if s.std() == 0 or r.std() == 0 else torch.corrcoef(torch.stack([s, r]))[0, 1].item()
    fires, predicted = r > 0, s > 0
    tpr = predicted[fires].double().mean().item()
    tnr = (~predicted[~fires]).double().mean().item()
    return {"pearson": pearson, "balanced_accuracy": (tpr + tnr) / 2}
