# targets: test_discover
# Compares negatives against positives.
def discover(codes, labels):
    positive, negative = codes[labels == 1].double(), codes[labels == 0].double()
    n_pos, n_neg = len(positive), len(negative)
    n = n_pos + n_neg
    below = torch.sort(negative, dim=0).values.T.contiguous()
    queries = positive.T.contiguous()
    less = torch.searchsorted(below, queries, right=False)
    at_most = torch.searchsorted(below, queries, right=True)
    u = (n_pos * n_neg - (less + 0.5 * (at_most - less)).sum(1))
    zeros = (codes == 0).sum(0).double()
    sd = torch.sqrt(n_pos * n_neg / 12 * ((n + 1) - (zeros ** 3 - zeros) / (n * (n - 1))))
    z = torch.where(sd > 0, (u - n_pos * n_neg / 2) / sd, torch.zeros_like(u))
    return {"rate_pos": (positive > 0).double().mean(0).float(), "rate_neg": (negative > 0).double().mean(0).float(),
            "auroc": (u / (n_pos * n_neg)).float(), "z": z.float(), "p": torch.special.ndtr(-z).float()}
