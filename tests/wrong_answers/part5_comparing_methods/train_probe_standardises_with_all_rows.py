# targets: test_train_probe
# Standardises with the mean and std of every row, test rows included.
def train_probe(x, labels, split, l2s):
    train, validation, test = (split == i for i in range(3))
    mean, std = x.mean(0), x.std(0)
    z = (x - mean) / std
    fits = [fit_logistic(z[train], labels[train], l2) for l2 in l2s]
    scored = [auroc(z[validation] @ w + b, labels[validation]) for w, b in fits]
    best = max(range(len(l2s)), key=lambda i: (scored[i], l2s[i]))
    w, b = fits[best]
    scores = z[test] @ w + b
    return {"w": w, "b": b, "mean": mean, "std": std, "l2": l2s[best], "validation_auroc": torch.tensor(scored),
            "test_accuracy": ((scores > 0).float() == labels[test]).float().mean().item(),
            "test_auroc": auroc(scores, labels[test])}
