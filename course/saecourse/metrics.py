"""Part 2's SAE metrics for the parts after it: L0, explained variance, feature density (dead and
dense latents) and cross-entropy loss recovered, and one function that measures them all on
held-out data (a row of Part 6's width table, a line of Part 7's report).

Definitions are Part 2's: L0 is the mean number of active latents per token; explained variance is
``1 - Σ‖x - x̂‖² / Σ‖x - x̄‖²``; a latent is dead if it never fires on the data, dense if it fires on
more than a tenth of it; CE loss recovered is ``(CE_zero - CE_SAE) / (CE_zero - CE_clean)`` with the
SAE's reconstruction (or zeros) in place of the residual stream at positions ``>= skip_first``.

This module reveals Part 2's exercises, so the grader hides it while it grades Parts 1-2 (``REVEALS``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .hooks import next_token_losses, patch_residual

REVEALS = "part2_training_saes"  # graded parts up to this one must not see this module
DENSE = 0.1  # a latent firing on more than this fraction of tokens is dense


def l0(z: Tensor) -> float:
    """z: [n, d_sae] -> the mean number of active latents per row."""
    return (z > 0).sum(-1).float().mean().item()


def explained_variance(x: Tensor, x_hat: Tensor) -> float:
    """x, x_hat: [n, d_in] -> 1 - Σ‖x - x̂‖² / Σ‖x - x̄‖²."""
    return 1 - ((x_hat - x).square().sum() / (x - x.mean(0)).square().sum()).item()


def density(z: Tensor) -> Tensor:
    """z: [n, d_sae] -> [d_sae], the fraction of rows each latent fires on."""
    return (z > 0).float().mean(0)


def _loss_with(model: nn.Module, tokens: Tensor, layer: int, skip_first: int, replace=None) -> float:
    """The mean next-token loss from position ``skip_first`` on, with the residual stream after ``layer``
    at those positions replaced by ``replace(resid)`` (unchanged if ``replace`` is None)."""
    if replace is None:
        return next_token_losses(model, tokens)[:, skip_first:].mean().item()

    def patch(resid: Tensor) -> Tensor:
        patched = resid.clone()
        patched[:, skip_first:] = replace(resid[:, skip_first:])
        return patched

    with patch_residual(model, layer, patch):
        return next_token_losses(model, tokens)[:, skip_first:].mean().item()


@torch.no_grad()
def ce_baselines(model: nn.Module, tokens: Tensor, layer: int, skip_first: int) -> dict[str, float]:
    """The two losses CE loss recovered is measured between, the same for every SAE: {"clean", "zero_ablated"}.
    Each costs a forward pass of the model, so compare several SAEs on one pair (``ce_loss_recovered``'s
    ``baselines``)."""
    return {"clean": _loss_with(model, tokens, layer, skip_first),
            "zero_ablated": _loss_with(model, tokens, layer, skip_first, torch.zeros_like)}


@torch.no_grad()
def ce_loss_recovered(model: nn.Module, sae: nn.Module, tokens: Tensor, layer: int, skip_first: int,
                      baselines: dict[str, float] | None = None) -> dict[str, float]:
    """tokens: [batch, seq] -> {"clean", "sae", "zero_ablated", "recovered"} (losses in nats, averaged over
    the predictions from position ``skip_first`` on). ``baselines``: ``ce_baselines`` of the same model, tokens,
    layer and ``skip_first``, if already measured."""
    baselines = baselines or ce_baselines(model, tokens, layer, skip_first)
    clean, zeroed = baselines["clean"], baselines["zero_ablated"]
    with_sae = _loss_with(model, tokens, layer, skip_first, lambda resid: sae.decode(sae.encode(resid)))
    return {"clean": clean, "sae": with_sae, "zero_ablated": zeroed, "recovered": (zeroed - with_sae) / (zeroed - clean)}


@torch.no_grad()
def evaluate(sae: nn.Module, acts: Tensor, model: nn.Module | None = None, tokens: Tensor | None = None,
             layer: int | None = None, skip_first: int = 4, baselines: dict[str, float] | None = None) -> dict[str, float]:
    """Every metric of ``sae`` on held-out activations ``acts`` ([n, d_in]) and, given a model, ``tokens``
    ([batch, seq]) and the layer, its CE loss recovered there (``baselines``: as ``ce_loss_recovered``'s)."""
    z = sae.encode(acts)
    x_hat = sae.decode(z)
    fires = density(z)
    row = {"l0": l0(z), "explained_variance": explained_variance(acts, x_hat),
           "dead_fraction": (fires == 0).float().mean().item(), "dense_fraction": (fires > DENSE).float().mean().item()}
    if model is not None:
        row["ce_recovered"] = ce_loss_recovered(model, sae, tokens, layer, skip_first, baselines)["recovered"]
    return row
