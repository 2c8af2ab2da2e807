"""Offline automated interpretation (Part 3) for the parts after it: explain a latent from its top
training windows, simulate the explanation on held-out windows, score the simulation.

An explanation is a table ``{token id: predicted activation}``. The explainer keeps the token ids
that carry most of the activation mass of the top training windows; the simulator looks every
token up; the score is the Pearson correlation and the balanced accuracy of detection between
simulated and real activations. ``Protocol`` fixes the windows and the split of documents (even
ids explain, odd ids are held out), so that every latent or direction is scored the same way.

This module reveals Part 3's exercises, so the grader hides it from a submission's process while
it grades Parts 1-3 (``REVEALS``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .activations import ActivationStore, context_windows

REVEALS = "part3_interpreting_features"  # graded parts up to this one must not see this module


def explain_tokens(token_ids: Tensor, acts: Tensor, max_size: int = 8, coverage: float = 0.8) -> dict[int, float]:
    """The heaviest token ids by activation mass (NaN counts as 0; ties: smaller id first), kept until
    they cover ``coverage`` of the mass or ``max_size`` are kept; each predicts 1.0.

    token_ids, acts: [n, w]."""
    ids, inverse = token_ids.flatten().unique(return_inverse=True)
    mass = torch.zeros(len(ids)).index_add_(0, inverse, acts.flatten().nan_to_num(0).clamp(min=0).float())
    order = torch.sort(mass, descending=True, stable=True)
    n_kept = min(int((order.values.cumsum(0) < coverage * mass.sum()).sum()) + 1, max_size)
    return {int(ids[i]): 1.0 for i in order.indices[:n_kept] if mass[i] > 0}


def simulate(explanation: dict[int, float], token_ids: Tensor) -> Tensor:
    """token_ids: [...] -> predicted activations [...] (0 for ids not in the explanation)."""
    predicted = torch.zeros(token_ids.shape)
    for token, value in explanation.items():
        predicted[token_ids == token] = value
    return predicted


def score_explanation(simulated: Tensor, real: Tensor) -> dict[str, float]:
    """Pearson correlation and balanced accuracy of detection (fires: > 0) over the tokens where
    ``real`` is not NaN. simulated, real: [n_windows, w]."""
    scored = ~real.isnan()
    s, r = simulated[scored].double(), real[scored].double()
    pearson = 0.0 if s.std() == 0 or r.std() == 0 else torch.corrcoef(torch.stack([s, r]))[0, 1].item()
    fires, predicted = r > 0, s > 0
    rates = [(predicted[fires == cls] == cls).double().mean().item() for cls in (True, False) if (fires == cls).any()]
    return {"pearson": pearson, "balanced_accuracy": sum(rates) / len(rates)}


def top_windows(window_acts: Tensor, n: int) -> Tensor:
    """Indices of the ``n`` windows with the largest activation, strongest first (stable).
    window_acts: [n_windows, w]."""
    return torch.sort(window_acts.nan_to_num(float("-inf")).amax(1), descending=True, stable=True).indices[:n]


@dataclass
class Protocol:
    """Windows of a store and their split: explanations are written from the top ``n_top`` windows
    of the training documents (even ids) and scored on the top ``n_top`` plus ``n_top`` random
    windows of the held-out documents (odd ids).

    rows: [n_windows, width] store rows (``activations.context_windows``); token_ids: the same
    shape; in_train: [n_windows] bool."""

    rows: Tensor
    token_ids: Tensor
    in_train: Tensor
    n_top: int = 20

    @classmethod
    def of(cls, store: ActivationStore, width: int = 31, n_top: int = 20) -> Protocol:
        rows = context_windows(store, width)
        return cls(rows, store.tokens[rows], store.doc_ids[rows[:, 0]] % 2 == 0, n_top)

    def explain(self, values: Tensor) -> dict[int, float]:
        """The explanation of a latent from its activation at every store row (values: [n_rows])."""
        acts, ids = values[self.rows][self.in_train], self.token_ids[self.in_train]
        top = top_windows(acts, self.n_top)
        return explain_tokens(ids[top], acts[top])

    def held_out(self, values: Tensor, seed: int = 0) -> tuple[Tensor, Tensor]:
        """Token ids and activations of the held-out windows a latent is scored on: [2 n_top, width] each."""
        acts, ids = values[self.rows][~self.in_train], self.token_ids[~self.in_train]
        top = top_windows(acts, self.n_top)
        others = torch.ones(len(acts), dtype=torch.bool)
        others[top] = False
        rest = others.nonzero().squeeze(1)
        generator = torch.Generator().manual_seed(seed)
        chosen = torch.cat([top, rest[torch.randperm(len(rest), generator=generator)[: self.n_top]]])
        return ids[chosen], acts[chosen]

    def score(self, values: Tensor, explanation: dict[int, float], seed: int = 0) -> dict[str, float]:
        """Held-out score of ``explanation`` for the latent with these ``values`` ([n_rows])."""
        ids, real = self.held_out(values, seed)
        return score_explanation(simulate(explanation, ids), real)
