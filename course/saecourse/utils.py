"""Small utilities every part uses: seeding, thread count, where outputs go, saving plots and caches."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file


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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    save_file(tensors, tmp, metadata=metadata)
    tmp.replace(path)
