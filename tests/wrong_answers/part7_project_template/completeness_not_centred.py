# targets: test_completeness
# Divides AUROCs without subtracting chance.
def completeness(codes, x, labels, split, ks, l2s):
    full = probes.train_probe(x, labels, split, l2s)["test_auroc"]
    aurocs = torch.tensor([probes.train_probe(codes[:, :k], labels, split, l2s)["test_auroc"] for k in ks])
    silent = (split == 2) & (labels == 1) & ~(codes[:, : max(ks)] > 0).any(-1)
    return {"probe_auroc": full, "auroc": aurocs, "recovered": aurocs / full,
            "unexplained": torch.nonzero(silent).squeeze(1)}
