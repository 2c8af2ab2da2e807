# targets: test_seed_toy_model_forward
def _forward(self, x):
    h = F.relu(einops.einsum(self.W_enc, x, "inst hidden feat, batch inst feat -> batch inst hidden") + self.b_enc)
    return F.relu(einops.einsum(self.W_dec, h, "inst feat hidden, batch inst hidden -> batch inst feat") + self.b_dec)
SeedToyModel.forward = _forward
