"""saecourse.interventions measures and intervenes exactly as Part 4's reference solution does, and
leaves no hook behind."""

import functools
import math

import pytest
import torch

from grader.framework import reference
from saecourse import interventions, models
from saecourse.hooks import assert_no_hooks
from saecourse.saes import SAE

pytestmark = pytest.mark.usefixtures("one_thread")
LAYER = 1


@functools.lru_cache(maxsize=1)
def tiny_model() -> torch.nn.Module:
    return models.tiny_gpt2(seed=0, n_layer=2, n_embd=32)[0]


def random_sae(seed: int, d_in: int = 32, d_sae: int = 24) -> SAE:
    """Decoder rows of norm about 2 (not unit), an encoder that is not the decoder's transpose, no
    encoder bias: latents fire on some positions and not on others."""
    g = torch.Generator().manual_seed(seed)
    return SAE({"W_enc": torch.randn(d_in, d_sae, generator=g), "b_enc": torch.zeros(d_sae),
                "W_dec": torch.randn(d_sae, d_in, generator=g) * 0.4, "b_dec": torch.randn(d_in, generator=g) * 0.01})


def tokens(seed: int, batch: int = 2, seq: int = 10) -> torch.Tensor:
    return torch.randint(0, 50257, (batch, seq), generator=torch.Generator().manual_seed(seed))


def logits(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids, use_cache=False).logits


def test_monosemanticity_and_consistency_equal_part4s_reference():
    ref = reference("part4_validating_features")
    g = torch.Generator().manual_seed(0)
    ids, acts = torch.randint(0, 30, (400,), generator=g), torch.relu(torch.randn(400, generator=g))
    for explanation in ({3: 1.0, 17: 1.0, 29: 1.0}, {}, {5: 1.0}):
        got, want = interventions.monosemanticity(ids, acts, explanation), ref.monosemanticity(ids, acts, explanation)
        assert got.keys() == want.keys() and all(abs(got[k] - want[k]) < 1e-9 for k in want), (got, want)
        for threshold in (0.0, 0.5):
            assert interventions.consistency(ids, acts, explanation, threshold) == ref.consistency(ids, acts, explanation, threshold)
    silent = torch.zeros(400)
    assert interventions.monosemanticity(ids, silent, {3: 1.0}) == ref.monosemanticity(ids, silent, {3: 1.0})
    assert interventions.consistency(ids, silent, {31: 1.0}) == ref.consistency(ids, silent, {31: 1.0})


def test_steering_hook_equals_part4s_reference_and_is_removed():
    ref, model = reference("part4_validating_features"), tiny_model()
    ids = tokens(1)
    vector = torch.randn(32, generator=torch.Generator().manual_seed(2))
    clean = logits(model, ids)
    for positions in ([2, 5], None):
        with interventions.steering_hook(model, LAYER, vector, positions):
            ours = logits(model, ids)
        with ref.steering_hook(model, LAYER, vector, positions):
            theirs = logits(model, ids)
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
        assert not torch.allclose(ours, clean)
    assert_no_hooks(model)
    with pytest.raises(RuntimeError, match="inside"):
        with interventions.steering_hook(model, LAYER, vector):
            raise RuntimeError("raised inside the with block")
    assert_no_hooks(model)
    torch.testing.assert_close(logits(model, ids), clean, rtol=0, atol=0)


def test_steering_effect_equals_part4s_reference():
    ref, model, sae = reference("part4_validating_features"), tiny_model(), random_sae(3)
    ids, alphas = tokens(4, 3, 7), [0.5, 2.0, 8.0]
    got = interventions.steering_effect(model, sae, 5, ids, LAYER, alphas, k=4)
    want = ref.steering_effect(model, sae, 5, ids, LAYER, alphas, k=4)
    assert got.keys() == want.keys()
    torch.testing.assert_close(got["kl"], want["kl"], rtol=1e-5, atol=1e-9)
    assert torch.equal(got["promoted"], want["promoted"])
    assert_no_hooks(model)


def test_clamp_latent_equals_part4s_reference():
    ref, model, sae = reference("part4_validating_features"), tiny_model(), random_sae(5)
    ids = tokens(6, 2, 9)
    clean = logits(model, ids)
    with interventions.clamp_latent(model, LAYER, sae, 3, None):
        torch.testing.assert_close(logits(model, ids), clean, rtol=0, atol=1e-4)  # its own value: no change
    for value, positions in ((2.5, [1, 4, 6]), (0.0, None)):
        with interventions.clamp_latent(model, LAYER, sae, 3, value, positions):
            ours = logits(model, ids)
        with ref.clamp_latent(model, LAYER, sae, 3, value, positions):
            theirs = logits(model, ids)
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    assert_no_hooks(model)


def test_ablation_effect_equals_part4s_reference():
    ref, model, sae = reference("part4_validating_features"), tiny_model(), random_sae(7)
    ids, skip_first = tokens(8, 3, 12), 3
    with torch.no_grad():
        fires = sae.encode(models.residual_stream(model, ids, LAYER))[:, skip_first:-1] > 0  # [3, 8, d_sae]
    rate = fires.float().mean((0, 1))
    feature = int((rate - 0.5).abs().argmin())  # the latent closest to firing at half the positions
    assert 0 < rate[feature] < 1, "the random SAE has no latent that fires at some positions and not at others"
    for value in (0.0, 0.3):
        got = interventions.ablation_effect(model, sae, feature, ids, LAYER, value, skip_first)
        want = ref.ablation_effect(model, sae, feature, ids, LAYER, value, skip_first)
        assert got.keys() == want.keys()
        assert (got["n_firing"], got["n_not_firing"]) == (want["n_firing"], want["n_not_firing"])
        for key in ("firing", "not_firing"):
            assert not math.isnan(want[key]) and abs(got[key] - want[key]) < 1e-6, (key, got, want)
    assert_no_hooks(model)
