# targets: test_train_probe
# Chooses λ correctly but reports accuracy and AUROC on the training rows.
_reference_train_probe = train_probe


def train_probe(x, labels, split, l2s):
    probe = _reference_train_probe(x, labels, split, l2s)
    train = split == 0
    scores = (x[train] - probe["mean"]) / probe["std"] @ probe["w"] + probe["b"]
    probe["test_accuracy"] = ((scores > 0).float() == labels[train]).float().mean().item()
    probe["test_auroc"] = auroc(scores, labels[train])
    return probe
