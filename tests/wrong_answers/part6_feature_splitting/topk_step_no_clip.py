# targets: test_topk_step
# Does not clip the gradient norm.
def topk_step(sae, x, optimizer, max_grad_norm):
    x_hat, _ = sae(x)
    loss = (x_hat - x).square().sum(-1).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        sae.W_dec.div_(sae.W_dec.norm(dim=-1, keepdim=True))
    return loss.item()
