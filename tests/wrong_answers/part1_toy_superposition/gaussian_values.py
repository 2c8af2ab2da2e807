# targets: test_generate_batch_values
# The original exercise's generator: Gaussian values of either sign.
def generate_batch(batch_size, feature_probability):
    shape = (batch_size, *feature_probability.shape)
    return torch.randn(shape) * (torch.rand(shape) < feature_probability)
