# targets: test_explained_variance
# The original exercise's formula.
def explained_variance(x, x_hat):
    return (1 - (x - x_hat).pow(2).mean() / x.var()).item()
