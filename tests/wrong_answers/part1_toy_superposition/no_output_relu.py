# targets: test_toy_model_forward
def _forward(self, x):
    h = self.hidden(x)
    return einops.einsum(self.W, h, "inst hidden feat, batch inst hidden -> batch inst feat") + self.b_final
ToyModel.forward = _forward
