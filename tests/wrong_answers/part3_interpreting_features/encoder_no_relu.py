# targets: test_direction_encoder
# Returns the signed projection: no ReLU, so a direction "fires" negatively.
class DirectionEncoder(nn.Module):
    def __init__(self, directions, mean, threshold=0.0):
        super().__init__()
        self.register_buffer("U", F.normalize(directions.float(), dim=-1))
        self.register_buffer("mean", mean.float())
        self.register_buffer("threshold", torch.as_tensor(threshold, dtype=torch.float32).expand(len(directions)).clone())

    def encode(self, x):
        return (x - self.mean) @ self.U.T - self.threshold
