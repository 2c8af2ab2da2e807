"""What Part 7 needs of ``saecourse.probes`` (Part 5's answers, exported from its notebook) beyond
Part 5's graded tests: a sparse probe may read a latent that never fires on the train rows."""

import torch

from saecourse import probes

L2S = [1e-2, 1e-1, 1.0]


def test_train_probe_reads_a_constant_latent_as_nothing():
    g = torch.Generator().manual_seed(0)
    n = 150
    codes = torch.relu(torch.randn(n, 4, generator=g) + 0.3) * torch.tensor([0.5, 1.0, 2.0, 4.0])
    labels = (torch.rand(n, generator=g) < torch.sigmoid(2 * codes[:, 0] - codes[:, 1])).float()
    split = torch.cat([torch.zeros(60), torch.ones(40), torch.full((n - 100,), 2.0)]).long()
    silent = torch.cat([codes, torch.zeros(n, 1)], dim=1)  # a fifth latent that never fires

    with_silent, without = probes.train_probe(silent, labels, split, L2S), probes.train_probe(codes, labels, split, L2S)
    assert with_silent["std"][-1] == 1 and with_silent["w"][-1] == 0, "a constant dimension is divided by 1 and weighs nothing"
    assert with_silent["l2"] == without["l2"] and with_silent["test_auroc"] == without["test_auroc"]
    torch.testing.assert_close(with_silent["w"][:-1], without["w"])

    w_raw, b_raw = probes.raw_probe(with_silent)
    standardised = (silent - with_silent["mean"]) / with_silent["std"] @ with_silent["w"] + with_silent["b"]
    torch.testing.assert_close(silent @ w_raw + b_raw, standardised)
