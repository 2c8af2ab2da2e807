# targets: test_span_fractions_with_parallel_directions
# Solves the normal equations, which are singular when two directions are parallel.
def span_fractions(direction, W_dec, order, ks):
    fractions = []
    for k in ks:
        A = W_dec[order[:k]].T
        coefficients = torch.linalg.inv(A.T @ A) @ A.T @ direction
        fractions.append((A @ coefficients).norm() / direction.norm())
    return torch.stack(fractions)
