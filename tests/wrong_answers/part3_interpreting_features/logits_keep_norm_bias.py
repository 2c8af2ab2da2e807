# targets: test_direction_logits
# Keeps the final LayerNorm's bias, which is the same for every direction.
@torch.no_grad()
def direction_logits(model, direction):
    return models.final_norm(model)(direction) @ models.unembedding(model).T
