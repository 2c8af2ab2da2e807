"""Tests for what Part 2 exports to ``saecourse.training`` beyond its graded exercises (``evaluate``,
``ce_loss_recovered`` in chunks, reading SAEs) and for ``saecourse.saes``'s cache of SAEs trained with
it, keyed by everything an SAE depends on."""

from pathlib import Path

import pytest
import torch

from saecourse import activations, models, saes, training


@pytest.fixture(autouse=True)
def private_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SAECOURSE_CACHE", str(tmp_path))


def sparse_data(n: int = 4096, d: int = 32, n_features: int = 96, p: float = 0.05, seed: int = 0) -> torch.Tensor:
    """Rows that are sparse non-negative combinations of unit directions, plus an offset: [n, d]."""
    g = torch.Generator().manual_seed(seed)
    directions = torch.nn.functional.normalize(torch.randn(n_features, d, generator=g), dim=-1)
    codes = (torch.rand(n, n_features, generator=g) < p) * torch.rand(n, n_features, generator=g) * 4
    return codes @ directions + 0.5


def random_sae(d_in: int, d_sae: int, seed: int) -> training.SAE:
    g = torch.Generator().manual_seed(seed)
    return training.sae_from_tensors({
        "W_enc": torch.randn(d_in, d_sae, generator=g) * 0.3, "b_enc": torch.randn(d_sae, generator=g) * 0.1 - 0.2,
        "W_dec": torch.randn(d_sae, d_in, generator=g) * 0.3, "b_dec": torch.randn(d_in, generator=g) * 0.1})


def toy_store(acts: torch.Tensor, monkeypatch, name: str) -> None:
    """``cached_activations`` returns ``acts`` (a store named ``name``) whatever it is asked for."""
    store = activations.ActivationStore(acts, *(torch.zeros(len(acts), dtype=torch.long) for _ in range(4)),
                                        {"model": "toy", "layer": 3})
    monkeypatch.setattr(activations, "cache_path", lambda *args, **kwargs: Path(name))
    monkeypatch.setattr(activations, "cached_activations", lambda *args, **kwargs: store)


def test_sae_from_tensors_reads_features_without_touching_the_random_state():
    torch.manual_seed(5)
    before = torch.random.get_rng_state()
    sae = random_sae(16, 40, 0)
    assert torch.equal(torch.random.get_rng_state(), before), "building an SAE for reading must not draw random numbers"
    assert not any(p.requires_grad for p in sae.parameters()) and sae.cfg == {} and sae.d_sae == 40


def test_evaluate_is_section_5s_metrics_on_one_row():
    sae = random_sae(16, 40, 0)
    sae.b_enc[:5] = -100.0  # five dead latents
    x = torch.randn(300, 16, generator=torch.Generator().manual_seed(1)) * 2
    z = sae.encode(x)
    dead, dense = training.dead_and_dense(training.feature_density(z))
    row = training.evaluate(sae, x)
    assert row["l0"] == training.l0_norm(z) and row["explained_variance"] == training.explained_variance(x, sae.decode(z))
    assert row["dead_fraction"] == dead / 40 and row["dense_fraction"] == dense / 40
    assert 0 < dead < 40 and 0 < dense < 40, "the random SAE must have dead and dense latents for this test to mean much"


def test_ce_loss_recovered_in_chunks_with_a_given_zero_ablated_loss():
    """More contexts than one forward pass holds give the losses of one big pass; an SAE that reconstructs
    exactly changes nothing; a zero-ablated loss passed in is used, not measured again."""
    model, _ = models.tiny_gpt2(seed=0, n_layer=2, n_embd=32)
    tokens = torch.randint(0, 50257, (training.CHUNK + 3, 10), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        logits = model(input_ids=tokens).logits[:, 2:-1]
        want = torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens[:, 3:].flatten()).item()
    identity = training.sae_from_tensors({"W_enc": torch.eye(32), "b_enc": torch.zeros(32), "W_dec": torch.eye(32),
                                          "b_dec": torch.zeros(32)})
    identity.encode = lambda x: x  # the identity map, negative coordinates included
    got = training.ce_loss_recovered(model, identity, tokens, 1, 2)
    assert abs(got["clean"] - want) < 1e-5 and abs(got["sae"] - want) < 1e-5, (got, want)
    assert abs(got["increase"]) < 1e-5 and abs(got["kl"]) < 1e-6 and abs(got["recovered"] - 1) < 1e-5, got
    sae = random_sae(32, 64, 2)
    measured = training.ce_loss_recovered(model, sae, tokens, 1, 2)
    given = training.ce_loss_recovered(model, sae, tokens, 1, 2, zero_ablated=measured["zero_ablated"] + 1.0)
    assert given["zero_ablated"] == measured["zero_ablated"] + 1.0 and given["sae"] == measured["sae"]
    row = training.evaluate(sae, torch.randn(10, 32), model, tokens, 1, 2)
    assert {k: row[f"ce_{k}"] for k in measured} == measured


def test_training_is_deterministic():
    acts = sparse_data(1024)
    cfg = training.TrainConfig(d_sae=48, l1_coeff=0.5, batch_size=256, epochs=2)
    (first, _), (second, _) = saes.train_deterministically(acts, cfg, progress=False), saes.train_deterministically(
        acts, cfg, progress=False)
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, second.state_dict()[name]), f"{name} differs between two identical runs"


def test_cached_sae_trains_once_and_keys_on_the_config(monkeypatch):
    toy_store(sparse_data(2048), monkeypatch, "toy_L3_train_n2048.safetensors")
    trained = []
    real_train = training.train_sae
    monkeypatch.setattr(training, "train_sae", lambda *args, **kwargs: trained.append(1) or real_train(*args, **kwargs))
    cfg = training.TrainConfig(d_sae=48, l1_coeff=0.5, batch_size=256, epochs=2)
    first = saes.cached_sae(cfg, "toy", 3, 2048, progress=False)
    again = saes.cached_sae(cfg, "toy", 3, 2048, progress=False)
    assert len(trained) == 1 and isinstance(again, training.SAE) and torch.equal(first.W_dec, again.W_dec)
    assert again.cfg["metadata"]["train_config"]["l1_coeff"] == 0.5 and again.cfg["d_sae"] == again.d_sae == 48
    saes.cached_sae(training.TrainConfig(d_sae=48, l1_coeff=0.6, batch_size=256, epochs=2), "toy", 3, 2048, progress=False)
    assert len(trained) == 2, "another λ is another SAE"
    assert torch.allclose(first.W_dec.norm(dim=-1), torch.ones(48), atol=1e-5), "the cached SAE has its norms folded"


def test_calibrate_l1_reaches_the_target_l0(monkeypatch):
    """Two toy runs, a line in log-log coordinates, and the third run lands near the target."""
    acts = sparse_data(4096)
    toy_store(acts, monkeypatch, "toy_train_n4096.safetensors")

    def l0_of(sae):
        with torch.no_grad():
            return training.l0_norm(sae.encode(acts))

    cfg = training.TrainConfig(d_sae=96, batch_size=128, epochs=6, lr=3e-3)
    found = saes.calibrate_l1(cfg, 12.0, l0_of, guesses=(0.5, 2.0), progress=False)
    (_, l0_a), (_, l0_b) = found["runs"]
    assert l0_a > 12.0 * 1.3 or l0_b < 12.0 / 1.3, "the guesses must not already hit the target"
    l0 = l0_of(saes.cached_sae(training.TrainConfig(**{**vars(cfg), "l1_coeff": found["l1_coeff"]}), progress=False))
    assert abs(l0 / 12.0 - 1) < 0.15, f"λ = {found['l1_coeff']:.3f} gives L0 {l0:.1f}, target 12 (runs {found['runs']})"


def test_the_cache_key_follows_the_training_code_not_the_docstrings(monkeypatch):
    cfg, path = training.TrainConfig(), Path("store.safetensors")
    key = saes.sae_key(path, cfg, 2)
    assert saes.sae_key(path, training.TrainConfig(epochs=2), 2) != key
    assert saes.sae_key(path, cfg, 1) != key
    monkeypatch.setattr(saes.inspect, "getsource", lambda obj: "changed" if obj is training.train_sae else "same")
    changed = saes.sae_key(path, cfg, 2)
    monkeypatch.setattr(saes.inspect, "getsource", lambda obj: "same")
    assert changed != saes.sae_key(path, cfg, 2)
