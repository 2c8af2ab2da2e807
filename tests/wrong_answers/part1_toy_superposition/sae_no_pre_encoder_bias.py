# targets: test_toy_sae_forward
def _forward(self, h):
    z = F.relu(einops.einsum(h, self.W_enc, "batch inst d, inst d lat -> batch inst lat") + self.b_enc)
    return z, einops.einsum(z, self.W_dec, "batch inst lat, inst lat d -> batch inst d") + self.b_dec
ToySAE.forward = _forward
