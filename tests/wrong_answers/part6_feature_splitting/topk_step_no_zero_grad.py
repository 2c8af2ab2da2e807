# targets: test_topk_step
# Never zeroes the old gradients.
def topk_step(sae, x, optimizer, max_grad_norm):
    x_hat, _ = sae(x)
    loss = (x_hat - x).square().sum(-1).mean()
    loss.backward()
    nn.utils.clip_grad_norm_(sae.parameters(), max_grad_norm)
    optimizer.step()
    with torch.no_grad():
        sae.W_dec.div_(sae.W_dec.norm(dim=-1, keepdim=True))
    return loss.item()
