"""Part 4's validation of a latent for the parts after it: Part 7's validation step, which puts each
latent of its catalog through the measures of monosemanticity and consistency and through the
interventions (steering along its decoder direction, clamping and ablating it through the SAE).

Definitions are Part 4's. On a latent's activation ``a_t >= 0`` at every token: the **mass share** is
the fraction of ``Σ a_t`` on token ids in the explanation, the **entropy** (bits) is that of the
activation mass per token id, ``2^H`` the **effective tokens**; **precision** is the fraction of
tokens the explanation predicts where the latent fires (``a > threshold``), **recall** the fraction of
firing tokens it predicts, each 0 when undefined. Steering adds a vector to the residual stream after
a block; ``steering_effect`` steers along the unit decoder direction and compares the next-token
distributions at the last position (``KL(clean ‖ steered)`` in nats). Clamping goes through the SAE
and keeps its error term, ``x' = decode(z') + (x - decode(z))``, so that clamping a latent to its own
value changes nothing; ablation clamps it to 0 (or its mean) and compares the loss change where it
fires with where it does not. Every hook is removed on exit, also when the body raises.

This module reveals Part 4's exercises, so the grader hides it while it grades Parts 1-4 (``REVEALS``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .hooks import next_token_losses, patch_residual
from .models import residual_stream

REVEALS = "part4_validating_features"  # graded parts up to this one must not see this module


def _in_explanation(token_ids: Tensor, explanation: dict[int, float]) -> Tensor:
    """token_ids: [n] -> [n] bool, True where the token id is one the explanation predicts."""
    predicted_ids = torch.tensor(list(explanation), dtype=token_ids.dtype)
    return torch.isin(token_ids, predicted_ids)


def monosemanticity(token_ids: Tensor, acts: Tensor, explanation: dict[int, float]) -> dict[str, float]:
    """How much of a latent's activation mass its explanation covers, and over how many token ids the
    mass is spread. A latent that never fires: mass share 0, entropy 0, 1 effective token.

    token_ids, acts: [n] (the latent's activation on each token). Returns {"mass_share", "entropy"
    (bits), "effective_tokens" (2 ** entropy)}."""
    total = acts.sum()
    if total <= 0:
        return {"mass_share": 0.0, "entropy": 0.0, "effective_tokens": 1.0}
    covered = _in_explanation(token_ids, explanation)
    ids, which_id = token_ids.unique(return_inverse=True)
    mass_per_id = torch.zeros(len(ids), dtype=torch.float64).index_add_(0, which_id, acts.double())
    shares = mass_per_id / total.double()
    shares = shares[shares > 0]  # 0 · log 0 counts as 0
    entropy = -(shares * shares.log2()).sum().item()
    mass_share = (acts[covered].sum() / total).item()
    return {"mass_share": mass_share, "entropy": entropy, "effective_tokens": 2 ** entropy}


def consistency(token_ids: Tensor, acts: Tensor, explanation: dict[int, float], threshold: float = 0.0) -> dict[str, float]:
    """Precision (of the explanation's prediction), recall (of the latent's firing) and their F1, a
    token firing where its activation is above ``threshold``; each is 0 where it is undefined.

    token_ids, acts: [n]. Returns {"precision", "recall", "f1"}."""
    fires = acts > threshold
    predicted = _in_explanation(token_ids, explanation)
    n_both = (fires & predicted).sum().item()
    n_predicted, n_firing = predicted.sum().item(), fires.sum().item()
    precision = n_both / n_predicted if n_predicted > 0 else 0.0
    recall = n_both / n_firing if n_firing > 0 else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


@contextmanager
def steering_hook(model: nn.Module, layer: int, vector: Tensor, positions: list[int] | None = None) -> Iterator[None]:
    """While the ``with`` block runs, every forward pass adds ``vector`` to the residual stream after
    block ``layer`` at ``positions`` (indices into the sequence; None: every position), and nowhere
    else. The block's output is not modified in place. The hook is removed on exit, also on an error.

    vector: [d_model] (or any shape that broadcasts against [batch, len(positions), d_model])."""

    def add_vector(resid: Tensor) -> Tensor:
        steered = resid.clone()
        if positions is None:
            steered += vector
        else:
            steered[:, positions] += vector
        return steered

    with patch_residual(model, layer, add_vector):
        yield


def _last_log_probs(model: nn.Module, tokens: Tensor) -> Tensor:
    """tokens: [batch, seq] -> the next-token log-probabilities at the last position: [batch, vocab]."""
    logits = model(input_ids=tokens, use_cache=False).logits
    return logits[:, -1].log_softmax(-1)


def _kl(log_p: Tensor, log_q: Tensor) -> Tensor:
    """KL(P ‖ Q) = Σ P (log P - log Q) in nats over the last dimension: [..., vocab] -> [...]."""
    return (log_p.exp() * (log_p - log_q)).sum(-1)


@torch.no_grad()
def steering_effect(model: nn.Module, sae: nn.Module, feature: int, tokens: Tensor, layer: int, alphas: list[float],
                    k: int = 5) -> dict[str, Tensor]:
    """Steer along latent ``feature``'s unit decoder direction by each α in ``alphas`` at every position,
    and compare the next-token distributions at the last position with the clean ones: the KL
    divergence KL(clean ‖ steered) averaged over the batch, and the ``k`` token ids whose
    log-probability rises most (the rise averaged over the batch), largest first.

    tokens: [batch, seq]. Returns {"kl": [len(alphas)], "promoted": [len(alphas), k] token ids}."""
    unit_direction = F.normalize(sae.W_dec[feature], dim=-1)
    clean = _last_log_probs(model, tokens)  # [batch, vocab]
    kls, promoted = [], []
    for alpha in alphas:
        with steering_hook(model, layer, alpha * unit_direction):
            steered = _last_log_probs(model, tokens)
        kls.append(_kl(clean, steered).mean())
        rise = (steered - clean).mean(0)  # [vocab]
        promoted.append(rise.topk(k).indices)
    return {"kl": torch.stack(kls), "promoted": torch.stack(promoted)}


@contextmanager
def clamp_latent(model: nn.Module, layer: int, sae: nn.Module, feature: int, value: float | None,
                 positions: list[int] | None = None) -> Iterator[None]:
    """While the ``with`` block runs, latent ``feature`` is clamped to ``value`` (None: its own value) in
    the residual stream after block ``layer`` at ``positions`` (None: every position), through the SAE
    and keeping its error term: ``x' = decode(z') + (x - decode(z))``, with ``z = encode(x)`` and ``z'``
    equal to ``z`` except at the latent. Other positions are untouched."""

    def clamp(resid: Tensor) -> Tensor:  # resid: [batch, seq, d_model]
        x = resid if positions is None else resid[:, positions]
        codes = sae.encode(x)
        error = x - sae.decode(codes)  # what the SAE does not reconstruct, from the original codes
        edited = codes.clone()
        if value is not None:
            edited[..., feature] = value
        clamped = sae.decode(edited) + error
        if positions is None:
            return clamped
        patched = resid.clone()
        patched[:, positions] = clamped
        return patched

    with patch_residual(model, layer, clamp):
        yield


def _mean_or_nan(values: Tensor) -> float:
    """The mean of ``values``, NaN if there are none."""
    return values.mean().item() if values.numel() > 0 else math.nan


@torch.no_grad()
def ablation_effect(model: nn.Module, sae: nn.Module, feature: int, tokens: Tensor, layer: int, value: float = 0.0,
                    skip_first: int = 4) -> dict[str, float]:
    """The change of the next-token loss (ablated minus clean) when latent ``feature`` is clamped to
    ``value`` (0: zero-ablation; its mean: mean-ablation) at every position ``>= skip_first``, averaged
    over the predicting positions ``t >= skip_first`` where the latent fires in the clean run (``z > 0``
    at ``t``) and over those where it does not (NaN for an empty group), and the two counts.

    tokens: [batch, seq]. Returns {"firing", "not_firing", "n_firing", "n_not_firing"}."""
    seq = tokens.shape[1]
    codes = sae.encode(residual_stream(model, tokens, layer))  # [batch, seq, d_sae]
    fires = codes[:, skip_first:seq - 1, feature] > 0  # at the positions that predict a next token
    clean = next_token_losses(model, tokens)[:, skip_first:]  # [batch, seq - 1 - skip_first]
    with clamp_latent(model, layer, sae, feature, value, list(range(skip_first, seq))):
        ablated = next_token_losses(model, tokens)[:, skip_first:]
    change = ablated - clean
    return {"firing": _mean_or_nan(change[fires]), "not_firing": _mean_or_nan(change[~fires]),
            "n_firing": int(fires.sum()), "n_not_firing": int((~fires).sum())}
