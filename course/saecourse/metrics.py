"""Part 2's SAE metrics for the parts after it: L0, explained variance, feature density (dead and
dense latents) and cross-entropy loss recovered, and one function that measures them all on
held-out data (a row of Part 6's width table, a line of Part 7's report).

Definitions are Part 2's: L0 is the mean number of active latents per token; explained variance is
``1 - Σ‖x - x̂‖² / Σ‖x - x̄‖²``; a latent is dead if it never fires on the data, dense if it fires on
more than a tenth of it; CE loss recovered is ``(CE_zero - CE_SAE) / (CE_zero - CE_clean)`` with the
SAE's reconstruction (or zeros: the whole residual stream, not one layer's output) in place of the
residual stream at positions ``>= skip_first``. Beside it: the loss increase ``CE_SAE - CE_clean`` in
nats and as a percentage of ``CE_clean``, and the KL divergence ``KL(clean ‖ spliced)`` of the
next-token distributions, averaged over the predicted positions (those the losses average over).

This module reveals Part 2's exercises, so the grader hides it while it grades Parts 1-2 (``REVEALS``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .hooks import patch_residual

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


CHUNK = 8  # contexts per forward pass: two [CHUNK, seq, vocab] log-probability tensors at a time


def _log_probs(model: nn.Module, tokens: Tensor, layer: int, skip_first: int, replace=None) -> Tensor:
    """tokens: [batch, seq] -> log-probabilities of the next token at the predicted positions
    ``skip_first .. seq - 2``: [batch, seq - 1 - skip_first, vocab], with the residual stream after ``layer``
    at positions ``>= skip_first`` replaced by ``replace(resid)`` (unchanged if ``replace`` is None)."""
    def patch(resid: Tensor) -> Tensor:
        patched = resid.clone()
        patched[:, skip_first:] = replace(resid[:, skip_first:])
        return patched

    if replace is None:
        logits = model(input_ids=tokens, use_cache=False).logits
    else:
        with patch_residual(model, layer, patch):
            logits = model(input_ids=tokens, use_cache=False).logits
    return logits[:, skip_first:-1].log_softmax(-1)


def _losses(log_probs: Tensor, tokens: Tensor, skip_first: int) -> Tensor:
    """log_probs: [batch, seq - 1 - skip_first, vocab] (``_log_probs``) -> the next-token losses [batch, seq - 1 - skip_first]."""
    return -log_probs.gather(-1, tokens[:, skip_first + 1:, None])[..., 0]


def _mean_loss(model: nn.Module, tokens: Tensor, layer: int, skip_first: int, replace=None) -> float:
    """The mean next-token loss over the predicted positions (see ``_log_probs``), in chunks of contexts."""
    return torch.cat([_losses(_log_probs(model, chunk, layer, skip_first, replace), chunk, skip_first).flatten()
                      for chunk in tokens.split(CHUNK)]).mean().item()


@torch.no_grad()
def ce_baselines(model: nn.Module, tokens: Tensor, layer: int, skip_first: int) -> dict[str, float]:
    """The two losses CE loss recovered is measured between, the same for every SAE: {"clean", "zero_ablated"}.
    Each costs a forward pass of the model, so compare several SAEs on one pair (``ce_loss_recovered``'s
    ``baselines``). Zero-ablation sets the whole residual stream after ``layer`` to 0 at positions
    ``>= skip_first``, which is worse than a uniform guess over the vocabulary."""
    return {"clean": _mean_loss(model, tokens, layer, skip_first),
            "zero_ablated": _mean_loss(model, tokens, layer, skip_first, torch.zeros_like)}


@torch.no_grad()
def ce_loss_recovered(model: nn.Module, sae: nn.Module, tokens: Tensor, layer: int, skip_first: int,
                      baselines: dict[str, float] | None = None) -> dict[str, float]:
    """tokens: [batch, seq] -> {"clean", "sae", "zero_ablated", "recovered", "increase", "increase_pct", "kl"}.

    Losses in nats, averaged over the predictions from position ``skip_first`` on; "increase" is
    ``CE_SAE - CE_clean`` (nats) and "increase_pct" the same as a percentage of ``CE_clean``; "kl" is
    ``KL(clean ‖ spliced)`` of the next-token distributions, nats per predicted token.
    ``baselines``: ``ce_baselines`` of the same model, tokens, layer and ``skip_first``, if already measured."""
    baselines = baselines or ce_baselines(model, tokens, layer, skip_first)
    clean, zeroed = baselines["clean"], baselines["zero_ablated"]
    losses, kls = [], []
    for chunk in tokens.split(CHUNK):
        clean_lp = _log_probs(model, chunk, layer, skip_first)
        spliced_lp = _log_probs(model, chunk, layer, skip_first, lambda resid: sae.decode(sae.encode(resid)))
        losses.append(_losses(spliced_lp, chunk, skip_first).flatten())
        kls.append((clean_lp.exp() * (clean_lp - spliced_lp)).sum(-1).flatten())
    with_sae = torch.cat(losses).mean().item()
    return {"clean": clean, "sae": with_sae, "zero_ablated": zeroed, "recovered": (zeroed - with_sae) / (zeroed - clean),
            "increase": with_sae - clean, "increase_pct": 100 * (with_sae - clean) / clean, "kl": torch.cat(kls).mean().item()}


@torch.no_grad()
def evaluate(sae: nn.Module, acts: Tensor, model: nn.Module | None = None, tokens: Tensor | None = None,
             layer: int | None = None, skip_first: int = 4, baselines: dict[str, float] | None = None) -> dict[str, float]:
    """Every metric of ``sae`` on held-out activations ``acts`` ([n, d_in]) and, given a model, ``tokens``
    ([batch, seq]) and the layer, its CE loss recovered there, with the loss increase in nats ("ce_increase") and
    the KL divergence from the clean model ("kl") beside it (``baselines``: as ``ce_loss_recovered``'s)."""
    z = sae.encode(acts)
    x_hat = sae.decode(z)
    fires = density(z)
    row = {"l0": l0(z), "explained_variance": explained_variance(acts, x_hat),
           "dead_fraction": (fires == 0).float().mean().item(), "dense_fraction": (fires > DENSE).float().mean().item()}
    if model is not None:
        ce = ce_loss_recovered(model, sae, tokens, layer, skip_first, baselines)
        row.update(ce_recovered=ce["recovered"], ce_increase=ce["increase"], kl=ce["kl"])
    return row
