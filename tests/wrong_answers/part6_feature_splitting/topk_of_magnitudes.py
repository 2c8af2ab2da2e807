# targets: test_topk_encode
# Selects the k largest |pre-activations|.
class TopKSAE(TopKSAE):
    def encode(self, x):
        pre = (x - self.b_dec) @ self.W_enc + self.b_enc
        top = pre.abs().topk(self.k, dim=-1)
        return torch.zeros_like(pre).scatter(-1, top.indices, F.relu(pre.gather(-1, top.indices)))
