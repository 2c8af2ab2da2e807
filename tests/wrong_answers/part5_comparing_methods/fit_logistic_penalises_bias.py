# targets: test_fit_logistic
# Puts the bias under the L2 penalty as well.
def fit_logistic(x, y, l2):
    x, y = x.double(), y.double()
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([w, b], max_iter=1000, tolerance_grad=1e-10, tolerance_change=1e-15,
                                  line_search_fn="strong_wolfe")

    def objective():
        optimiser.zero_grad()
        loss = F.binary_cross_entropy_with_logits(x @ w + b, y) + l2 / 2 * (w.square().sum() + b.square())
        loss.backward()
        return loss

    optimiser.step(objective)
    return w.detach().float(), b.detach().float()
