# targets: test_decoder_constraint
@torch.no_grad()
def remove_parallel_gradient(sae):
    W, grad = sae.W_dec, sae.W_dec.grad
    grad -= (grad * W).sum(0, keepdim=True) * W
