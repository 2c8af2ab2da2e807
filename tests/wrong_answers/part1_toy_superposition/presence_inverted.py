# targets: test_generate_batch_values test_generate_batch_statistics
# Treats feature_probability as the seed's "sparsity": the chance of being zero.
def generate_batch(batch_size, feature_probability):
    shape = (batch_size, *feature_probability.shape)
    return torch.rand(shape) * (torch.rand(shape) > feature_probability)
