"""Detect and undo monkeypatching of the libraries and grader code that tests rely on.

A submission could replace ``torch.allclose`` with ``lambda *a, **k: True`` and pass every test.
We snapshot the attribute tables of the modules and classes that tests use before the
submission runs, and after it loads and after every test we compare, restore what changed, and
fail whatever caused the change.
"""

from __future__ import annotations

import builtins
import importlib
import math
import sys

import numpy
import torch

GUARDED_MODULES = [
    "builtins", "math", "random", "numpy", "numpy.testing", "torch", "torch.nn", "torch.nn.functional",
    "torch.linalg", "torch.testing", "einops", "pytest",
    "grader.framework", "grader.tolerances", "grader.guard", "grader.plugin",
]
GUARDED_CLASSES = [torch.Tensor, torch._C.TensorBase, torch.nn.Module, torch.nn.Parameter, numpy.ndarray]
LIBRARY_PACKAGES = {"torch", "numpy", "einops", "builtins", "math", "random", "_random", "pytest", "_pytest"}
_MISSING = object()


class Guard:
    """Holds a snapshot of guarded attribute tables; ``restore()`` puts back anything changed."""

    def __init__(self, extra_modules: list[str] = ()):
        self._tables: dict[str, tuple[object, dict]] = {}
        for name in [*GUARDED_MODULES, *extra_modules]:
            try:
                obj = importlib.import_module(name) if name not in sys.modules else sys.modules[name]
            except ImportError:
                continue
            self._tables[name] = (obj, {k: v for k, v in vars(obj).items() if not _volatile(k, obj)})
        for cls in GUARDED_CLASSES:
            self._tables[cls.__qualname__] = (cls, dict(vars(cls)))

    def restore(self) -> list[str]:
        """Undo every replaced or deleted attribute; return the names of those the submission's
        code replaced (``torch.allclose``, ...). Libraries rebind a few of their own functions
        lazily (importing ``torch._dynamo`` wraps ``torch.manual_seed``): those are undone silently."""
        tampered = []
        for label, (obj, saved) in self._tables.items():
            current = vars(obj)
            for key, value in saved.items():
                new = current.get(key, _MISSING)
                if new is not value:
                    if new is _MISSING or not _from_library(new):
                        tampered.append(f"{label}.{key}")
                    setattr(obj, key, value)
        return tampered


def _from_library(value: object) -> bool:
    module = getattr(value, "__module__", None) or ""
    return module.split(".")[0] in LIBRARY_PACKAGES


def _volatile(key: str, module: object) -> bool:
    """Module dunders (``__warningregistry__``, ...) legitimately change while code runs."""
    return key.startswith("__") and key.endswith("__") and module not in (builtins, math)
