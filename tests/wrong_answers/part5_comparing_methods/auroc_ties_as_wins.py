# targets: test_auroc
# Counts a tie as a win for the positive.
def auroc(scores, labels):
    positive, negative = scores[labels == 1].double(), scores[labels == 0].double()
    return (positive[:, None] >= negative[None, :]).double().mean().item()
