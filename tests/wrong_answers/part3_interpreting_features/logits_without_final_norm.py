# targets: test_direction_logits
# The plain logit lens of the direction, without the final norm.
@torch.no_grad()
def direction_logits(model, direction):
    return direction @ models.unembedding(model).T
