# targets: test_direction_encoder
# Returns the signed projection: no ReLU, so a direction "fires" negatively.
class DirectionEncoder(nn.Module):
    def __init__(self, directions, mean):
        super().__init__()
        self.register_buffer("U", F.normalize(directions.float(), dim=-1))
        self.register_buffer("mean", mean.float())

    def encode(self, x):
        return (x - self.mean) @ self.U.T
