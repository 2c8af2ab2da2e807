# targets: test_topk_encode
# Keeps the k largest pre-activations of each latent over the batch.
class TopKSAE(TopKSAE):
    def encode(self, x):
        pre = (x - self.b_dec) @ self.W_enc + self.b_enc
        top = pre.topk(self.k, dim=0)
        return torch.zeros_like(pre).scatter(0, top.indices, F.relu(top.values))
