# targets: test_sae_forward
def _encode(self, x):
    return F.relu(x @ self.W_enc + self.b_enc)
SAE.encode = _encode
