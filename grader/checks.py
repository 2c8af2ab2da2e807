"""Assertion helpers every part's graded tests share: compare with the reference, name the mistake."""

from __future__ import annotations

import torch

from grader import tolerances as tol


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, atol=tol.ATOL, rtol=tol.RTOL)


def diagnose(actual: torch.Tensor, expected: torch.Tensor, what: str, mistakes: dict[str, torch.Tensor]) -> str:
    """A failure message: the first known mistake that reproduces ``actual``, else the largest error."""
    if actual.shape != expected.shape:
        return f"{what}: expected shape {tuple(expected.shape)}, got {tuple(actual.shape)}"
    for message, wrong in mistakes.items():
        if close(actual, wrong):
            return f"{what} is wrong: {message}"
    return f"{what} differs from the reference (max abs error {(actual - expected).abs().max():.3g})"


def tensor(value, what: str) -> torch.Tensor:
    """``value`` as a detached float tensor, failing with a clear message if it is not a tensor."""
    assert isinstance(value, torch.Tensor), f"{what} should return a torch.Tensor, got {type(value).__name__}"
    return value.detach().float()


def number(value, what: str) -> float:
    """``value`` (a Python number or a one-element tensor) as a float, failing clearly otherwise."""
    if isinstance(value, torch.Tensor):
        assert value.numel() == 1, f"{what} should be a single number, got shape {tuple(value.shape)}"
        value = value.item()
    assert isinstance(value, (int, float)), f"{what} should return a number, got {type(value).__name__}"
    return float(value)
