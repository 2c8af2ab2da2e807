"""Tests for saecourse.training: it is Part 2's trainer (same weights as the reference), it steers λ
into an L0 band, and it caches what it trained under a key of everything the SAE depends on."""

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


def final_l0(acts: torch.Tensor, cfg: training.TrainConfig) -> tuple[float, dict]:
    set_seed(0)
    sae = training.TrainableSAE(acts.shape[1], cfg.d_sae)
    history = training.train(sae, acts, cfg, progress=False)
    with torch.no_grad():
        return (sae.encode(acts) > 0).float().sum(-1).mean().item(), history


@pytest.mark.parametrize("start", [0.5, 8.0])
def test_the_l0_band_brings_l0_near_it_from_either_side(start):
    """From a λ 16 times too small or too large, the controller ends near the band (6, 9); the same run
    without it ends far outside. (On this fast toy L0 still drifts down by about a fifth once λ is
    fixed and the learning rate decays, hence the margin.)"""
    acts, band = sparse_data(), (6.0, 9.0)
    cfg = training.TrainConfig(d_sae=96, l1_coeff=start, batch_size=128, epochs=12, lr=3e-3, log_every=8, adapt_every=16)
    uncontrolled, _ = final_l0(acts, cfg)
    l0, history = final_l0(acts, training.TrainConfig(**{**vars(cfg), "l0_band": band}))
    assert not 0.7 * band[0] <= uncontrolled <= 1.3 * band[1], f"λ = {start} alone already gives L0 {uncontrolled:.1f}"
    assert 0.7 * band[0] <= l0 <= 1.3 * band[1], f"from λ = {start}: final L0 {l0:.1f} is far from the band {band}"
    late = [c for s, c in zip(history["step"], history["l1_coeff"]) if s > cfg.adapt_until * history["step"][-1] + cfg.adapt_every]
    assert len(set(late)) == 1 and late[0] != start, "λ must move, then stay fixed after adapt_until"


def test_without_a_band_lambda_only_warms_up():
    cfg = training.TrainConfig(d_sae=32, l1_coeff=1.5, batch_size=256, epochs=2, log_every=1)
    history = training.train(training.TrainableSAE(32, 32), sparse_data(), cfg, progress=False)
    assert max(history["l1_coeff"]) == 1.5 and history["l1_coeff"][0] == 0.0


def test_adapted_l1_moves_toward_the_band():
    assert training.adapted_l1(2.0, 30.0, (10.0, 20.0)) > 2.0  # too dense: more penalty
    assert training.adapted_l1(2.0, 5.0, (10.0, 20.0)) < 2.0
    assert training.adapted_l1(2.0, 200 ** 0.5, (10.0, 20.0)) == pytest.approx(2.0)  # at the middle: unchanged
    assert training.adapted_l1(2.0, 0.0, (10.0, 20.0)) == 2.0 / training.ADAPT_MAX_FACTOR  # dead: at most the limit


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
    assert again.cfg["final_l1_coeff"] == 0.5 and again.cfg["train_config"]["d_sae"] == 48
    training.cached_sae(training.TrainConfig(d_sae=48, l1_coeff=0.6, batch_size=256, epochs=2), "toy", 3, 2048, progress=False)
    assert len(trained) == 2, "another λ is another SAE"
    assert torch.allclose(first.W_dec.norm(dim=-1), torch.ones(48), atol=1e-5), "the cached SAE has its norms folded"
