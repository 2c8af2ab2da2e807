# targets: test_sae_forward
def _decode(self, z):
    return z @ self.W_dec
SAE.decode = _decode
