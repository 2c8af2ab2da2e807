# targets: test_direction_encoder
# The directions are used as given, not scaled to unit norm.
class DirectionEncoder(nn.Module):
    def __init__(self, directions, mean, threshold=0.0):
        super().__init__()
        self.register_buffer("U", directions.float())
        self.register_buffer("mean", mean.float())
        self.register_buffer("threshold", torch.as_tensor(threshold, dtype=torch.float32).expand(len(directions)).clone())

    def encode(self, x):
        return F.relu((x - self.mean) @ self.U.T - self.threshold)
