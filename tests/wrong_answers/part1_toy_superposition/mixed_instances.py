# targets: test_toy_model_forward test_toy_model_instances_independent
# The einsum sums over instances: every instance sees every other instance's hidden state.
def _forward(self, x):
    h = self.hidden(x).sum(1, keepdim=True)
    return F.relu(einops.einsum(self.W, h.expand(-1, self.W.shape[0], -1), "inst hidden feat, batch inst hidden -> batch inst feat") + self.b_final)
ToyModel.forward = _forward
