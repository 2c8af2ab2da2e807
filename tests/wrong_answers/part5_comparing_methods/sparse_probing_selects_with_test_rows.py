# targets: test_sparse_probing
# Chooses the latents on every row, test rows included.
def sparse_probing(codes, labels, split, ks, l2s):
    accuracy, area = [], []
    for k in ks:
        probe = train_probe(codes[:, top_latents(codes, labels, k)], labels, split, l2s)
        accuracy.append(probe["test_accuracy"])
        area.append(probe["test_auroc"])
    return {"test_accuracy": torch.tensor(accuracy), "test_auroc": torch.tensor(area)}
