# targets: test_seed_toy_model_forward test_seed_toy_model_loses_to_real_model
# Implements the real toy model instead of the original exercise's model.
def _forward(self, x):
    h = einops.einsum(self.W_enc, x, "inst hidden feat, batch inst feat -> batch inst hidden")
    return F.relu(einops.einsum(self.W_enc, h, "inst hidden feat, batch inst hidden -> batch inst feat") + self.b_dec)
SeedToyModel.forward = _forward
