# targets: test_fit_logistic
# Fifty plain gradient steps: far from the minimum.
def fit_logistic(x, y, l2):
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros((), requires_grad=True)
    optimiser = torch.optim.SGD([w, b], lr=0.1)
    for _ in range(50):
        optimiser.zero_grad()
        loss = F.binary_cross_entropy_with_logits(x @ w + b, y.float()) + l2 / 2 * w.square().sum()
        loss.backward()
        optimiser.step()
    return w.detach(), b.detach()
