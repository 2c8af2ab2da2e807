"""saecourse.metrics measures exactly what Part 2's reference metrics measure."""

import torch

from grader.framework import reference
from saecourse import metrics, models
from saecourse.saes import SAE


def random_sae(d_in: int, d_sae: int, seed: int) -> SAE:
    g = torch.Generator().manual_seed(seed)
    return SAE({"W_enc": torch.randn(d_in, d_sae, generator=g) * 0.3, "b_enc": torch.randn(d_sae, generator=g) * 0.1 - 0.2,
                "W_dec": torch.randn(d_sae, d_in, generator=g) * 0.3, "b_dec": torch.randn(d_in, generator=g) * 0.1})


def test_metrics_equal_part2s_reference():
    ref = reference("part2_training_saes")
    sae = random_sae(16, 40, 0)
    x = torch.randn(300, 16, generator=torch.Generator().manual_seed(1)) * 2
    z = sae.encode(x)
    x_hat = sae.decode(z)
    assert metrics.l0(z) == ref.l0_norm(z)
    assert abs(metrics.explained_variance(x, x_hat) - ref.explained_variance(x, x_hat)) < 1e-6
    assert torch.equal(metrics.density(z), ref.feature_density(z))
    dead, dense = ref.dead_and_dense(ref.feature_density(z))
    row = metrics.evaluate(sae, x)
    assert row["dead_fraction"] == dead / 40 and row["dense_fraction"] == dense / 40


def test_ce_loss_recovered_equals_part2s_reference():
    ref = reference("part2_training_saes")
    model, _ = models.tiny_gpt2(seed=0, n_layer=2, n_embd=32)
    sae = random_sae(32, 64, 2)
    tokens = torch.randint(0, 50257, (2, 12), generator=torch.Generator().manual_seed(3))
    theirs = ref.SAE(32, 64)
    theirs.load_state_dict({k: getattr(sae, k) for k in ("W_enc", "b_enc", "W_dec", "b_dec")})
    want = ref.ce_loss_recovered(model, theirs, tokens, 1, 3)
    got = metrics.ce_loss_recovered(model, sae, tokens, 1, 3)
    assert got.keys() == want.keys() and all(abs(got[k] - want[k]) < 1e-6 for k in want), (got, want)
    row = metrics.evaluate(sae, torch.randn(10, 32), model, tokens, 1, 3)
    assert (row["ce_recovered"], row["ce_increase"], row["kl"]) == (got["recovered"], got["increase"], got["kl"])
    assert abs(got["increase"] - (got["sae"] - got["clean"])) < 1e-6 and abs(got["increase_pct"] - 100 * got["increase"] / got["clean"]) < 1e-4
    assert got["kl"] > 0


def test_ce_loss_recovered_in_chunks_and_for_a_perfect_sae():
    """More contexts than one forward pass holds give the losses of one big pass; an SAE that reconstructs
    exactly changes nothing: no loss increase, no KL divergence, all of the loss recovered."""
    model, _ = models.tiny_gpt2(seed=0, n_layer=2, n_embd=32)
    tokens = torch.randint(0, 50257, (metrics.CHUNK + 3, 10), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        logits = model(input_ids=tokens).logits[:, 2:-1]
        want = torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens[:, 3:].flatten()).item()
    identity = SAE({"W_enc": torch.eye(32), "b_enc": torch.zeros(32), "W_dec": torch.eye(32), "b_dec": torch.zeros(32)})
    identity.encode = lambda x: x  # the identity map, negative coordinates included
    got = metrics.ce_loss_recovered(model, identity, tokens, 1, 2)
    assert abs(got["clean"] - want) < 1e-5 and abs(got["sae"] - want) < 1e-5, (got, want)
    assert abs(got["increase"]) < 1e-5 and abs(got["kl"]) < 1e-6 and abs(got["recovered"] - 1) < 1e-5, got
