"""Tests for saecourse.training: it is Part 2's trainer (same weights as the reference), and it
caches what it trained under a key of everything the SAE depends on."""

from pathlib import Path

import pytest
import torch

from grader.framework import reference
from saecourse import activations, saes, training
from saecourse.utils import set_seed


@pytest.fixture(autouse=True)
def private_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SAECOURSE_CACHE", str(tmp_path))


def sparse_data(n: int = 4096, d: int = 32, n_features: int = 96, p: float = 0.05, seed: int = 0) -> torch.Tensor:
    """Rows that are sparse non-negative combinations of unit directions, plus an offset: [n, d]."""
    g = torch.Generator().manual_seed(seed)
    directions = torch.nn.functional.normalize(torch.randn(n_features, d, generator=g), dim=-1)
    codes = (torch.rand(n, n_features, generator=g) < p) * torch.rand(n, n_features, generator=g) * 4
    return codes @ directions + 0.5


def test_train_gives_the_same_weights_as_part2s_reference():
    ref = reference("part2_training_saes")
    acts = sparse_data()
    cfg = training.TrainConfig(d_sae=64, l1_coeff=0.5, batch_size=256, epochs=3, log_every=5)
    set_seed(cfg.seed)
    theirs = ref.SAE(acts.shape[1], cfg.d_sae)
    their_history = ref.train_sae(theirs, acts, ref.TrainConfig(**{k: v for k, v in vars(cfg).items()
                                                                     if k in ref.TrainConfig.__dataclass_fields__}), progress=False)
    set_seed(cfg.seed)
    ours = training.TrainableSAE(acts.shape[1], cfg.d_sae)
    history = training.train(ours, acts, cfg, progress=False)
    for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
        assert torch.equal(getattr(ours, name), getattr(theirs, name)), f"{name} differs from Part 2's train_sae"
    assert history["l0"] == their_history["l0"]
    assert torch.allclose(ours.W_dec.norm(dim=-1), torch.ones(cfg.d_sae)), "decoder norms are folded"


def test_cached_sae_trains_once_and_keys_on_the_config(monkeypatch, tmp_path):
    acts = sparse_data(2048)
    store = activations.ActivationStore(acts, torch.zeros(len(acts), dtype=torch.long), torch.arange(len(acts)),
                                        torch.zeros(len(acts), dtype=torch.long), torch.zeros(len(acts), dtype=torch.long),
                                        {"model": "toy", "layer": 3})
    monkeypatch.setattr(activations, "cache_path", lambda *args, **kwargs: Path("toy_L3_train_n2048.safetensors"))
    monkeypatch.setattr(activations, "cached_activations", lambda *args, **kwargs: store)
    trained = []
    real_train = training.train
    monkeypatch.setattr(training, "train", lambda *args, **kwargs: trained.append(1) or real_train(*args, **kwargs))
    cfg = training.TrainConfig(d_sae=48, l1_coeff=0.5, batch_size=256, epochs=2)
    first = training.cached_sae(cfg, "toy", 3, 2048, progress=False)
    again = training.cached_sae(cfg, "toy", 3, 2048, progress=False)
    assert len(trained) == 1 and isinstance(again, saes.SAE) and torch.equal(first.W_dec, again.W_dec)
    assert again.cfg["metadata"]["train_config"]["l1_coeff"] == 0.5 and again.cfg["d_sae"] == again.d_sae == 48
    training.cached_sae(training.TrainConfig(d_sae=48, l1_coeff=0.6, batch_size=256, epochs=2), "toy", 3, 2048, progress=False)
    assert len(trained) == 2, "another λ is another SAE"
    assert torch.allclose(first.W_dec.norm(dim=-1), torch.ones(48), atol=1e-5), "the cached SAE has its norms folded"


def test_calibrate_l1_reaches_the_target_l0(monkeypatch):
    """Two toy runs, a line in log-log coordinates, and the third run lands near the target."""
    acts = sparse_data(4096)
    store = activations.ActivationStore(acts, *(torch.zeros(len(acts), dtype=torch.long) for _ in range(4)), {"layer": 0})
    monkeypatch.setattr(activations, "cache_path", lambda *args, **kwargs: Path("toy_train_n4096.safetensors"))
    monkeypatch.setattr(activations, "cached_activations", lambda *args, **kwargs: store)

    def l0_of(sae):
        with torch.no_grad():
            return (sae.encode(acts) > 0).float().sum(-1).mean().item()

    cfg = training.TrainConfig(d_sae=96, batch_size=128, epochs=6, lr=3e-3)
    found = training.calibrate_l1(cfg, 12.0, l0_of, guesses=(0.5, 2.0), progress=False)
    (_, l0_a), (_, l0_b) = found["runs"]
    assert l0_a > 12.0 * 1.3 or l0_b < 12.0 / 1.3, "the guesses must not already hit the target"
    l0 = l0_of(training.cached_sae(training.TrainConfig(**{**vars(cfg), "l1_coeff": found["l1_coeff"]}), progress=False))
    assert abs(l0 / 12.0 - 1) < 0.15, f"λ = {found['l1_coeff']:.3f} gives L0 {l0:.1f}, target 12 (runs {found['runs']})"


def test_the_cache_key_follows_the_training_code_not_the_docstrings(monkeypatch):
    cfg, path = training.TrainConfig(), Path("store.safetensors")
    key = training.sae_key(path, cfg, 2)
    assert training.sae_key(path, training.TrainConfig(epochs=2), 2) != key
    assert training.sae_key(path, cfg, 1) != key
    monkeypatch.setattr(training.inspect, "getsource", lambda obj: "changed" if obj is training.train else "same")
    changed = training.sae_key(path, cfg, 2)
    monkeypatch.setattr(training.inspect, "getsource", lambda obj: "same")
    assert changed != training.sae_key(path, cfg, 2)
