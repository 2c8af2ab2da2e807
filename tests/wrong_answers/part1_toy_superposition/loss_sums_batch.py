# targets: test_importance_weighted_loss
def importance_weighted_loss(out, x, importance):
    return (importance * (x - out) ** 2).sum(0).mean(-1)
