"""Assertion helpers every part's graded tests share: compare with the reference, name the mistake."""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from grader import tolerances as tol
from grader.remote import connection


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


# --------------------------------------------------------------------------------------------------
# Reaching the submission's process (``sub`` is a ``grader.remote.Remote``)

def box_module(sub, name: str):
    """A module imported in the submission's process (``saecourse.models``, ``gradebox.standins``)."""
    return connection(sub).request({"op": "import", "module": name}, name)


def seed(sub, n: int) -> None:
    """Seed Python, NumPy and torch in the submission's process."""
    box_module(sub, "saecourse.utils").set_seed(n)


def scratch(sub) -> Path:
    """A folder the submission may write to, readable here at the same path."""
    return connection(sub).scratch_folder()


def submitted_file(sub, path: Path) -> Path:
    """``path``, checked to be a regular file the submission wrote inside its scratch folder
    (not a link to a file of the judge's)."""
    assert path.is_file() and not path.is_symlink(), f"{path.name} was not written (or is not a regular file)"
    assert path.resolve().is_relative_to(scratch(sub).resolve()), f"{path.name} points outside your folder"
    return path


def state(model, what: str, needs: set[str] = frozenset()) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of a submission's module, as data, checked for the parameters a test needs."""
    params = model.state_dict()
    assert isinstance(params, dict), f"{what}.state_dict() should return a dict of tensors"
    missing = needs - set(params)
    assert not missing, f"{what} needs parameters {sorted(needs)}, found {sorted(params)}"
    return {k: tensor(v, f"{what}.{k}") for k, v in params.items()}


def same_shapes(params: dict[str, torch.Tensor], like: dict[str, torch.Tensor], what: str) -> None:
    """Assert the submission's ``params`` have every parameter of ``like``, in the same shape."""
    for name, value in like.items():
        assert name in params and params[name].shape == value.shape, (
            f"{what}.{name} should have shape {tuple(value.shape)}, got "
            f"{tuple(params[name].shape) if name in params else 'no such parameter'}")


def loaded(module: torch.nn.Module, params: dict[str, torch.Tensor], what: str) -> torch.nn.Module:
    """``module`` (a reference class, here in the judge) with the submission's parameters."""
    own = module.state_dict()
    same_shapes(params, own, what)
    module.load_state_dict({k: params[k] for k in own})
    return module


def randomised(params: dict[str, torch.Tensor], scale: float, prefix: str = "") -> dict[str, torch.Tensor]:
    """``params`` with every entry whose name starts with ``prefix`` redrawn as ``scale * randn``
    (e.g. nonzero biases, which an initialisation leaves at zero and so would hide a missing bias)."""
    return {k: scale * torch.randn_like(v) if k.startswith(prefix) else v for k, v in params.items()}


# --------------------------------------------------------------------------------------------------
# The grader kit: inputs that several parts build the same way on both sides

def paired_modules(sub, ref, cls: str, *args, seed: int, needs: set[str] = frozenset()):
    """The student's ``cls(*args)`` and the reference's with the same parameters: the reference's
    initialisation from ``seed`` with random, nonzero biases (``b*``), loaded into both."""
    student = getattr(sub, cls)(*args)
    torch.manual_seed(seed)
    reference = getattr(ref, cls)(*args)
    params = randomised(reference.state_dict(), 0.3, prefix="b")
    same_shapes(state(student, cls, needs), params, cls)
    reference.load_state_dict(params)
    student.load_state_dict(params)
    return student, reference


@functools.lru_cache(maxsize=4)
def judge_gpt2(n_layer: int, n_embd: int, init_std: float = 0.02) -> torch.nn.Module:
    """``saecourse.models.tiny_gpt2`` from seed 0, here in the judge (built once; no test changes it)."""
    from saecourse.models import tiny_gpt2

    return tiny_gpt2(seed=0, n_layer=n_layer, n_embd=n_embd, init_std=init_std)[0]


def submission_gpt2(sub, n_layer: int, n_embd: int, init_std: float = 0.02):
    """The same tiny GPT-2 as ``judge_gpt2``, built from the same seed in the submission's process."""
    return box_module(sub, "saecourse.models").tiny_gpt2(seed=0, n_layer=n_layer, n_embd=n_embd, init_std=init_std)[0]


def random_tokens(seed: int, batch: int, seq: int, vocab: int = 50257) -> torch.Tensor:
    """[batch, seq] token ids drawn uniformly from GPT-2's vocabulary by their own generator."""
    return torch.randint(0, vocab, (batch, seq), generator=torch.Generator().manual_seed(seed))
