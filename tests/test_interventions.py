"""What Part 7 relies on in ``saecourse.interventions`` (Part 4's answers, exported from its notebook)
beyond the graded tests: the clamp's hook is removed when the body raises, and ablating a latent that
never fires gives NaN for the empty group without leaving a hook behind."""

import functools
import math

import pytest
import torch

from saecourse import interventions, models
from saecourse.hooks import assert_no_hooks
from saecourse.training import sae_from_tensors

pytestmark = pytest.mark.usefixtures("one_thread")
LAYER = 1


@functools.lru_cache(maxsize=1)
def tiny_model() -> torch.nn.Module:
    return models.tiny_gpt2(seed=0, n_layer=2, n_embd=32)[0]


def random_sae(seed: int, d_in: int = 32, d_sae: int = 24) -> torch.nn.Module:
    """Decoder rows of norm about 2 (not unit), an encoder that is not the decoder's transpose, no
    encoder bias: latents fire on some positions and not on others."""
    g = torch.Generator().manual_seed(seed)
    return sae_from_tensors({"W_enc": torch.randn(d_in, d_sae, generator=g), "b_enc": torch.zeros(d_sae),
                             "W_dec": torch.randn(d_sae, d_in, generator=g) * 0.4,
                             "b_dec": torch.randn(d_in, generator=g) * 0.01})


def tokens(seed: int, batch: int = 2, seq: int = 10) -> torch.Tensor:
    return torch.randint(0, 50257, (batch, seq), generator=torch.Generator().manual_seed(seed))


def logits(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids, use_cache=False).logits


def test_clamp_latent_is_removed_when_the_body_raises():
    model, sae, ids = tiny_model(), random_sae(5), tokens(6, 2, 9)
    clean = logits(model, ids)
    with pytest.raises(RuntimeError, match="inside"):
        with interventions.clamp_latent(model, LAYER, sae, 3, 2.5, [1, 4, 6]):
            assert not torch.allclose(logits(model, ids), clean), "clamping latent 3 to 2.5 changed nothing"
            raise RuntimeError("raised inside the with block")
    assert_no_hooks(model)
    torch.testing.assert_close(logits(model, ids), clean, rtol=0, atol=0)


def test_ablation_effect_of_a_latent_that_never_fires():
    """Part 7 zero-ablates each catalogued latent on a concept's texts, where it may not fire at all."""
    model, sae, ids = tiny_model(), random_sae(7), tokens(8, 3, 12)
    sae.b_enc[2] = -1e4  # latent 2 never fires
    got = interventions.ablation_effect(model, sae, 2, ids, LAYER, 0.0, skip_first=1)
    assert (got["n_firing"], got["n_not_firing"]) == (0, 3 * 10)
    assert math.isnan(got["firing"]) and abs(got["not_firing"]) < 1e-5, got  # clamping 0 to 0: no change
    assert_no_hooks(model)
