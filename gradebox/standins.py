"""Inputs that graded tests build inside the submission's process: stand-in models with fixed,
arbitrary behaviour (none of them is an exercise's answer), and access to gradients, which do
not travel with a ``state_dict``."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Reconstruction(nn.Module):
    """A stand-in SAE: ``forward(x) = (x @ A + b, relu(x))``; ``A = I, b = 0`` reconstructs perfectly.

    A: [d, d], b: [d]."""

    def __init__(self, A: Tensor, b: Tensor):
        super().__init__()
        self.A, self.b = nn.Parameter(A.clone()), nn.Parameter(b.clone())

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x @ self.A + self.b, torch.relu(x)


class InstanceMap(nn.Module):
    """A stand-in toy model: ``forward(x) = sigmoid(x @ M + c)`` per instance, with a ``W`` of the
    toy model's shape so that code reading ``model.W.shape`` works.

    M: [inst, feat, feat], c: [inst, feat]; W: [inst, hidden, feat]."""

    def __init__(self, M: Tensor, c: Tensor, n_hidden: int):
        super().__init__()
        self.M, self.c = nn.Parameter(M.clone()), nn.Parameter(c.clone())
        self.W = nn.Parameter(torch.zeros(M.shape[0], n_hidden, M.shape[1]))

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(torch.einsum("bif,ifg->big", x, self.M) + self.c)


class RowLimit(nn.Module):
    """Wraps an SAE (or anything with ``encode``) and refuses to encode more than ``max_rows`` rows
    at once: how a test checks that code streams a big store in chunks. Other attributes
    (``W_dec``, ``d_sae``, ...) are the wrapped module's."""

    def __init__(self, inner: nn.Module, max_rows: int):
        super().__init__()
        self.inner, self.max_rows = inner, max_rows

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.inner, name)

    def _check(self, x: Tensor) -> None:
        rows = x.reshape(-1, x.shape[-1]).shape[0]
        if rows > self.max_rows:
            raise MemoryError(f"the SAE was asked to encode {rows} rows at once; stream the store in chunks of at "
                              f"most chunk_size = {self.max_rows} rows, so that all the codes are never in memory together")

    def encode(self, x: Tensor) -> Tensor:
        self._check(x)
        return self.inner.encode(x)

    def forward(self, x: Tensor):
        self._check(x)
        return self.inner(x)


def set_grads(module: nn.Module, grads: dict[str, Tensor]) -> None:
    """Give the named parameters of ``module`` these ``.grad`` values."""
    params = dict(module.named_parameters())
    for name, grad in grads.items():
        params[name].grad = grad.clone()


def grads(module: nn.Module) -> dict[str, Tensor]:
    """The ``.grad`` of every parameter of ``module`` that has one."""
    return {name: p.grad for name, p in module.named_parameters() if p.grad is not None}


def inside(context, fn, *args, **kwargs):
    """``with context: return fn(*args, **kwargs)``: how a test runs something inside a context
    manager the submission made (a hook that edits the model while the ``with`` block runs)."""
    with context:
        return fn(*args, **kwargs)


class _Probe(Exception):
    """The exception ``raise_inside`` raises inside a ``with`` block."""


def raise_inside(context) -> str:
    """Enter ``context`` and raise inside its ``with`` block. Returns "propagated" if the exception
    came out of the ``with`` statement (as it must), "swallowed" if the context manager hid it."""
    try:
        with context:
            raise _Probe("raised inside the with block by the grader")
    except _Probe:
        return "propagated"
    return "swallowed"


@torch.no_grad()
def logits(model: nn.Module, tokens: Tensor) -> Tensor:
    """The model's logits for ``tokens`` ([batch, seq]): [batch, seq, vocab]."""
    return model(input_ids=tokens, use_cache=False).logits
