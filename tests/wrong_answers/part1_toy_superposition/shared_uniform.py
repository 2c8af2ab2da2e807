# targets: test_generate_batch_statistics
# One uniform draw decides both presence and value, so present values are uniform in [0, p].
def generate_batch(batch_size, feature_probability):
    u = torch.rand(batch_size, *feature_probability.shape)
    return u * (u < feature_probability)
