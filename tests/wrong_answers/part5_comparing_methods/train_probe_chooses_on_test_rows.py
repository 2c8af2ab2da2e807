# targets: test_train_probe
# Chooses λ on the test rows, then reports the test score of that choice.
def train_probe(x, labels, split, l2s):
    train, test = split == 0, split == 2
    mean, std = x[train].mean(0), x[train].std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    z = (x - mean) / std
    fits = [fit_logistic(z[train], labels[train], l2) for l2 in l2s]
    scored = [auroc(z[test] @ w + b, labels[test]) for w, b in fits]
    best = max(range(len(l2s)), key=lambda i: (scored[i], l2s[i]))
    w, b = fits[best]
    scores = z[test] @ w + b
    return {"w": w, "b": b, "mean": mean, "std": std, "l2": l2s[best], "validation_auroc": torch.tensor(scored),
            "test_accuracy": ((scores > 0).float() == labels[test]).float().mean().item(),
            "test_auroc": auroc(scores, labels[test])}
