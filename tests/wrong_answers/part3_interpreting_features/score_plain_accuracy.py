# targets: test_score_explanation
# Detection scored by plain accuracy over the tokens, not balanced accuracy.
def score_explanation(simulated, real):
    scored = ~real.isnan()
    s, r = simulated[scored].double(), real[scored].double()
    pearson = 0.0 if s.std() == 0 or r.std() == 0 else torch.corrcoef(torch.stack([s, r]))[0, 1].item()
    return {"pearson": pearson, "balanced_accuracy": (s > 0).eq(r > 0).double().mean().item()}
