# targets: test_feature_density
def feature_density(z):
    return z.mean(0)
