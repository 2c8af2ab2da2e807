"""Part 5's supervised directions and sparse probes for the parts after it: Part 7's comparison step
(the steering vector and the probe of a concept, and how much of each the SAE's decoder directions
span) and its completeness step (probes that may read only the top ``k`` latents), and steering
with a direction compared at equal norm (its validation step).

Definitions are Part 5's. The steering vector is the difference of the two classes' mean
activations. A probe is a logistic regression minimising the mean binary cross-entropy plus
``λ/2 ‖w‖²`` (the bias is not penalised), fitted in float64 to convergence on standardised inputs
(the train rows' mean and standard deviation), with ``λ`` chosen by validation AUROC (ties: the
larger ``λ``) and scored once on the test rows; ``split`` holds 0, 1, 2 for train, validation and
test (``concepts.SPLITS``). AUROC counts a tie as half a win. A direction is decomposed by the
decoder's geometry: its cosine with every decoder row, and the share of its norm that the span of
the top ``k`` rows holds (least squares, so rows need not be orthogonal or independent).

This module reveals Part 5's exercises, so the grader hides it while it grades Parts 1-5 (``REVEALS``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .hooks import next_token_losses, patch_residual
from .models import greedy_continuation, residual_stream

REVEALS = "part5_comparing_methods"  # graded parts up to this one must not see this module
TRAIN, VALIDATION, TEST = 0, 1, 2  # the values of ``split`` (the order of concepts.SPLITS)


def mean_difference(acts: Tensor, labels: Tensor) -> Tensor:
    """acts: [n, d_model], labels: [n] (1 positive, 0 negative) -> [d_model], the positive rows' mean
    minus the negative rows' mean (each class's own mean, whatever the class balance)."""
    positive_mean = acts[labels == 1].mean(0)
    negative_mean = acts[labels == 0].mean(0)
    return positive_mean - negative_mean


def fit_logistic(x: Tensor, y: Tensor, l2: float) -> tuple[Tensor, Tensor]:
    """The minimiser (w, b) of mean BCE(σ(x·w + b), y) + l2/2 ‖w‖², by full-batch L-BFGS in float64.

    x: [n, d], y: [n] in {0, 1} -> (w [d], b []) as float32."""
    inputs, targets = x.double(), y.double()
    w = torch.zeros(inputs.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    lbfgs = torch.optim.LBFGS([w, b], max_iter=1000, tolerance_grad=1e-10, tolerance_change=1e-15,
                              history_size=20, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        lbfgs.zero_grad()
        cross_entropy = F.binary_cross_entropy_with_logits(inputs @ w + b, targets)
        objective = cross_entropy + l2 / 2 * w.square().sum()
        objective.backward()
        return objective

    lbfgs.step(closure)  # one step runs L-BFGS until it converges (or max_iter)
    return w.detach().float(), b.detach().float()


def auroc(scores: Tensor, labels: Tensor) -> float:
    """The probability that a random positive outscores a random negative, a tie counting one half.

    scores, labels: [n], with both classes present. Compares every positive with every negative:
    memory grows as n_positive · n_negative."""
    positive = scores[labels == 1].double()[:, None]  # [n_pos, 1]
    negative = scores[labels == 0].double()[None, :]  # [1, n_neg]
    higher = positive > negative  # [n_pos, n_neg]
    tied = positive == negative
    wins = higher.sum() + 0.5 * tied.sum()
    return (wins / higher.numel()).item()


def _accuracy(scores: Tensor, labels: Tensor) -> float:
    """The fraction of rows whose prediction (positive where the score is > 0) equals the label."""
    predicted = (scores > 0).float()
    return (predicted == labels).float().mean().item()


def train_probe(x: Tensor, labels: Tensor, split: Tensor, l2s: list[float]) -> dict:
    """A probe fitted on the train rows for each λ in ``l2s``, the one with the best validation AUROC
    kept (ties: the larger λ), and its accuracy and AUROC on the test rows.

    x: [n, d], labels, split: [n]. Returns {"w": [d], "b": [] (in standardised coordinates),
    "mean": [d], "std": [d] (the train rows'; a constant dimension gets std 1), "l2": float,
    "validation_auroc": [len(l2s)], "test_accuracy": float, "test_auroc": float}."""
    train, validation, test = split == TRAIN, split == VALIDATION, split == TEST
    mean, std = x[train].mean(0), x[train].std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    standardised = (x - mean) / std

    candidates = [fit_logistic(standardised[train], labels[train], l2) for l2 in l2s]
    validation_aurocs = [auroc(standardised[validation] @ w + b, labels[validation]) for w, b in candidates]
    chosen = max(range(len(l2s)), key=lambda i: (validation_aurocs[i], l2s[i]))
    w, b = candidates[chosen]

    test_scores = standardised[test] @ w + b
    return {"w": w, "b": b, "mean": mean, "std": std, "l2": l2s[chosen],
            "validation_auroc": torch.tensor(validation_aurocs),
            "test_accuracy": _accuracy(test_scores, labels[test]), "test_auroc": auroc(test_scores, labels[test])}


def raw_probe(probe: dict) -> tuple[Tensor, Tensor]:
    """The probe with its standardisation folded in: ``x · w_raw + b_raw = ((x - mean) / std) · w + b``.

    probe: as ``train_probe`` returns it -> (w_raw [d], b_raw [])."""
    w_raw = probe["w"] / probe["std"]
    b_raw = probe["b"] - probe["mean"] @ w_raw
    return w_raw, b_raw


def decoder_cosines(direction: Tensor, W_dec: Tensor) -> Tensor:
    """The cosine of ``direction`` with every decoder row (rows of any norm).

    direction: [d_model], W_dec: [d_sae, d_model] -> [d_sae]."""
    unit_rows = F.normalize(W_dec, dim=-1)
    return unit_rows @ F.normalize(direction, dim=0)


def span_fractions(direction: Tensor, W_dec: Tensor, order: Tensor, ks: list[int]) -> Tensor:
    """For each k in ``ks``, ``‖P_k v‖ / ‖v‖`` with ``P_k`` the projection onto the span of the decoder
    rows ``W_dec[order[:k]]``, by least squares in float64 (``gelsd``: parallel rows are fine).

    direction: [d_model], W_dec: [d_sae, d_model], order: [>= max(ks)] latent indices -> [len(ks)]."""
    v = direction.double()
    fractions = []
    for k in ks:
        basis = W_dec[order[:k]].double().T  # [d_model, k]
        coefficients = torch.linalg.lstsq(basis, v[:, None], driver="gelsd").solution  # [k, 1]
        fractions.append((basis @ coefficients).norm() / v.norm())
    return torch.stack(fractions).float()


def top_latents(codes: Tensor, labels: Tensor, k: int) -> Tensor:
    """The ``k`` latents with the largest ``|mean over positives - mean over negatives|``, largest first
    (ties: the smaller index first).

    codes: [n, d_sae], labels: [n] -> [k] latent indices."""
    gap = codes[labels == 1].mean(0) - codes[labels == 0].mean(0)
    ranking = torch.sort(gap.abs(), descending=True, stable=True)
    return ranking.indices[:k]


def sparse_probing(codes: Tensor, labels: Tensor, split: Tensor, ks: list[int], l2s: list[float]) -> dict[str, Tensor]:
    """For each k in ``ks``: the top ``k`` latents chosen on the train rows (``top_latents``), and a
    probe that reads only them, trained and scored as by ``train_probe``.

    codes: [n, d_sae], labels, split: [n] -> {"test_accuracy": [len(ks)], "test_auroc": [len(ks)]}."""
    train = split == TRAIN
    accuracies, aurocs = [], []
    for k in ks:
        latents = top_latents(codes[train], labels[train], k)
        probe = train_probe(codes[:, latents], labels, split, l2s)
        accuracies.append(probe["test_accuracy"])
        aurocs.append(probe["test_auroc"])
    return {"test_accuracy": torch.tensor(accuracies), "test_auroc": torch.tensor(aurocs)}


# --------------------------------------------------------------------------------------------------
# Steering with a direction, measured (Part 5, section 5)


@torch.no_grad()
def steered_kl(model: nn.Module, layer: int, vector: Tensor, tokens: Tensor) -> float:
    """KL(P ‖ Q) in nats between the clean (P) and steered (Q) next-token distributions, ``vector``
    ([d_model]) added after block ``layer`` at every position; the mean over every position of ``tokens``
    ([batch, seq])."""
    clean = model(input_ids=tokens, use_cache=False).logits.log_softmax(-1)  # [batch, seq, vocab]
    with patch_residual(model, layer, lambda resid: resid + vector):
        steered = model(input_ids=tokens, use_cache=False).logits.log_softmax(-1)
    return (clean.exp() * (clean - steered)).sum(-1).mean().item()


@torch.no_grad()
def compare_steering(model: nn.Module, layer: int, directions: Tensor, norm: float, prompts: Tensor, unrelated: Tensor,
                     probe_w: Tensor, probe_b: float, n_new: int) -> dict[str, Tensor]:
    """Each direction ([n_dir, d_model]) scaled to ``norm`` and added after block ``layer`` while greedy decoding
    continues ``prompts`` ([batch, seq]) by ``n_new`` tokens, all directions in one batch. Returns "concept": the
    probe's mean probability on the continuation's tokens read by the clean model, "loss": the clean model's mean
    loss of the continuation, "kl": ``steered_kl`` on ``unrelated`` ([n_dir] each), and "continuations"
    ([n_dir, batch, n_new] token ids)."""
    n_dir, (batch, start) = len(directions), prompts.shape
    vectors = norm * F.normalize(directions, dim=-1)  # [n_dir, d_model]
    rows = prompts.repeat(n_dir, 1)  # row r: prompt r % batch steered by vector r // batch
    per_row = vectors.repeat_interleave(batch, dim=0)[:, None, :]  # [n_dir * batch, 1, d_model]
    with patch_residual(model, layer, lambda resid: resid + per_row):
        new = greedy_continuation(model, rows, n_new)  # [n_dir * batch, n_new]
    text = torch.cat([rows, new], dim=1)
    probability = torch.sigmoid(residual_stream(model, text, layer)[:, start:] @ probe_w + probe_b)
    losses = next_token_losses(model, text)[:, start - 1:]  # the predictions of the continuation's tokens
    return {"concept": probability.reshape(n_dir, -1).mean(1), "loss": losses.reshape(n_dir, -1).mean(1),
            "kl": torch.tensor([steered_kl(model, layer, v, unrelated) for v in vectors]),
            "continuations": new.view(n_dir, batch, n_new)}
