# targets: test_topk_encode
# Hard-codes k = 5 instead of reading self.k.
class TopKSAE(TopKSAE):
    def encode(self, x):
        pre = (x - self.b_dec) @ self.W_enc + self.b_enc
        top = pre.topk(5, dim=-1)
        return torch.zeros_like(pre).scatter(-1, top.indices, F.relu(top.values))
