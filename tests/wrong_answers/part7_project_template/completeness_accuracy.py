# targets: test_completeness
# Reports the sparse probes' test accuracy instead of their AUROC.
def completeness(codes, x, labels, split, ks, l2s):
    full = probes.train_probe(x, labels, split, l2s)["test_auroc"]
    aurocs = torch.tensor([probes.train_probe(codes[:, :k], labels, split, l2s)["test_accuracy"] for k in ks])
    silent = (split == 2) & (labels == 1) & ~(codes[:, : max(ks)] > 0).any(-1)
    return {"probe_auroc": full, "auroc": aurocs, "recovered": (aurocs - 0.5) / (full - 0.5),
            "unexplained": torch.nonzero(silent).squeeze(1)}
