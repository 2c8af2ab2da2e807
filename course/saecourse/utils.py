"""Small utilities every part uses: seeding, thread count, run size, where outputs go, saving plots and caches."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from safetensors.torch import save_file

from .files import atomic_path

T = TypeVar("T")
SIZES = ("full", "smoke")


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch so that a run is reproducible."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def set_threads(n: int | None = None) -> int:
    """Choose torch's CPU thread count deliberately and return it.

    Tiny models (Part 1) are dominated by per-operation overhead, where extra threads only add
    synchronisation cost; and graders run several workers side by side. The default is the
    environment variable ``SAECOURSE_THREADS`` or, failing that, all cores.
    """
    if n is None:
        n = int(os.environ.get("SAECOURSE_THREADS", os.cpu_count() or 1))
    torch.set_num_threads(max(1, n))
    return torch.get_num_threads()


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's CPU thread count set to ``n`` inside the block and restored after it (a result that
    must be reproducible fixes it: the matrix products' summation order depends on the threads)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def run_size() -> str:
    """The size demo cells run at: ``SAECOURSE_SIZE``, ``"full"`` (the default) or ``"smoke"``.

    The only place that reads the variable. At smoke size the demo cells train on a little data
    for a few steps, so a whole notebook runs in about a minute (``make check`` executes every
    notebook that way); the code is the same as at full size, only the numbers shrink.
    """
    size = os.environ.get("SAECOURSE_SIZE", "full")
    if size not in SIZES:
        raise ValueError(f"SAECOURSE_SIZE must be one of {SIZES}, got {size!r}")
    return size


def is_smoke() -> bool:
    """True when the demo cells run at smoke size (``SAECOURSE_SIZE=smoke``)."""
    return run_size() == "smoke"


def sized(full: T, smoke: T) -> T:
    """``full`` normally, ``smoke`` at smoke size: how a demo cell chooses a data size or step count.

    ``steps=sized(5000, 200)`` trains 5000 steps in a real run and 200 in a smoke test.
    """
    return smoke if is_smoke() else full


def cache_dir() -> Path:
    """Folder for exported models, tokenised corpora and activations.

    ``SAECOURSE_CACHE`` if set, else ``~/.cache/saecourse``. Not created here: whoever writes
    into a subfolder creates it.
    """
    return Path(os.environ.get("SAECOURSE_CACHE", "~/.cache/saecourse")).expanduser()


def output_dir() -> Path:
    """Folder for plots and other run outputs (``SAECOURSE_OUT``, default ``./outputs``)."""
    path = Path(os.environ.get("SAECOURSE_OUT", "outputs"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_figure(fig, name: str) -> Path:
    """Save a matplotlib figure as ``<output_dir>/<name>.png`` and return the path."""
    path = output_dir() / f"{name}.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def save_tensors_atomic(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    """Write a safetensors file via a temporary file renamed into place.

    An interrupted write never leaves a half-written cache file, and concurrent writers (two
    graders filling the same cache) each rename a complete file.
    """
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata=metadata)
