# targets: test_topk_step
# Leaves the decoder rows at whatever norm the step gives them.
def topk_step(sae, x, optimizer, max_grad_norm):
    x_hat, _ = sae(x)
    loss = (x_hat - x).square().sum(-1).mean()
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(sae.parameters(), max_grad_norm)
    optimizer.step()
    return loss.item()
