# targets: test_toy_model_forward
# ReLU on the hidden layer instead of the output, as in the original exercise.
def _hidden(self, x):
    return F.relu(einops.einsum(self.W, x, "inst hidden feat, batch inst feat -> batch inst hidden"))
def _forward(self, x):
    return einops.einsum(self.W, self.hidden(x), "inst hidden feat, batch inst hidden -> batch inst feat") + self.b_final
ToyModel.hidden, ToyModel.forward = _hidden, _forward
