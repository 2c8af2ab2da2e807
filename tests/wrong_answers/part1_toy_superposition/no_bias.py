# targets: test_toy_model_forward
def _forward(self, x):
    return F.relu(einops.einsum(self.W, self.hidden(x), "inst hidden feat, batch inst hidden -> batch inst feat"))
ToyModel.forward = _forward
