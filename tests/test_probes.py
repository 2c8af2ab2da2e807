"""saecourse.probes computes exactly what Part 5's reference solution computes."""

import torch
import torch.nn.functional as F

from grader.framework import reference
from saecourse import probes

L2S = [1e-2, 1e-1, 1.0]


def probe_data(seed: int, n: int = 150, d: int = 6) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows on different scales and offsets with noisy labels, one constant dimension, and splits
    60/40/50 train/validation/test."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=g)
    labels = (torch.rand(n, generator=g) < torch.sigmoid(1.5 * z[:, 0] - z[:, 1])).float()
    x = z * torch.linspace(0.3, 3.0, d) + torch.randn(d, generator=g) * 2
    x[:, -1] = 4.0  # standard deviation 0: divided by 1
    split = torch.cat([torch.zeros(60), torch.ones(40), torch.full((n - 100,), 2.0)]).long()
    return x, labels, split


def test_probes_equal_part5s_reference():
    ref = reference("part5_comparing_methods")
    x, labels, split = probe_data(0)
    torch.testing.assert_close(probes.mean_difference(x, labels), ref.mean_difference(x, labels))

    for l2 in (0.01, 1.0):
        w, b = probes.fit_logistic(x[:, :-1], labels, l2)
        want_w, want_b = ref.fit_logistic(x[:, :-1], labels, l2)
        torch.testing.assert_close(w, want_w, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(b, want_b, rtol=1e-5, atol=1e-6)

    g = torch.Generator().manual_seed(1)
    tied_scores = torch.round(torch.randn(200, generator=g) * 3) / 3  # many ties
    tied_labels = (torch.rand(200, generator=g) < 0.3).long()
    assert abs(probes.auroc(tied_scores, tied_labels) - ref.auroc(tied_scores, tied_labels)) < 1e-9

    got, want = probes.train_probe(x, labels, split, L2S), ref.train_probe(x, labels, split, L2S)
    assert got.keys() == want.keys()
    assert got["l2"] == want["l2"]
    for key in ("w", "b", "mean", "std", "validation_auroc"):
        torch.testing.assert_close(got[key], want[key], rtol=1e-5, atol=1e-6, msg=key)
    assert abs(got["test_accuracy"] - want["test_accuracy"]) < 1e-9 and abs(got["test_auroc"] - want["test_auroc"]) < 1e-6
    for ours, theirs in zip(probes.raw_probe(want), ref.raw_probe(want)):
        torch.testing.assert_close(ours, theirs)


def test_decomposition_equals_part5s_reference():
    ref = reference("part5_comparing_methods")
    g = torch.Generator().manual_seed(2)
    W_dec = torch.randn(40, 12, generator=g) * torch.logspace(-0.5, 0.5, 40)[:, None]  # rows of norm 0.3-3
    W_dec[5] = -2 * W_dec[3]  # two parallel rows
    direction = torch.randn(12, generator=g) * 5
    cosines = probes.decoder_cosines(direction, W_dec)
    torch.testing.assert_close(cosines, ref.decoder_cosines(direction, W_dec))
    order, ks = cosines.argsort(descending=True), [1, 2, 4, 8, 12, 16]
    torch.testing.assert_close(probes.span_fractions(direction, W_dec, order, ks),
                               ref.span_fractions(direction, W_dec, order, ks))
    ks = [1, 2, 3]
    torch.testing.assert_close(probes.span_fractions(direction, W_dec, torch.tensor([3, 5, 7]), ks),
                               ref.span_fractions(direction, W_dec, torch.tensor([3, 5, 7]), ks))


def test_sparse_probing_equals_part5s_reference():
    ref = reference("part5_comparing_methods")
    g = torch.Generator().manual_seed(3)
    codes = F.relu(torch.randn(160, 20, generator=g) - 0.5)
    score = codes[:, 2] - codes[:, 9] + 0.3 * torch.randn(160, generator=g)
    labels = (score > score.median()).long()
    codes[:, 15] = codes[:, 4]  # tied latents: the smaller index first
    split = torch.cat([torch.zeros(80), torch.ones(30), torch.full((50,), 2.0)]).long()
    for k in (1, 5, 20):
        assert torch.equal(probes.top_latents(codes, labels, k), ref.top_latents(codes, labels, k))
    got, want = probes.sparse_probing(codes, labels, split, [1, 3], L2S), ref.sparse_probing(codes, labels, split, [1, 3], L2S)
    assert got.keys() == want.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=1e-6, msg=key)
