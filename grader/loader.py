"""Load the reference notebook as a module.

Only *definition* cells run (``saecourse.cells``: test cells and cells tagged ``demo`` are
skipped), so a notebook loads in seconds. A cell that raises is recorded and skipped; the cells
after it still run, so one broken exercise costs only the points of the tests that need it.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

from gradebox.server import run_cells
from saecourse.cells import definition_sources, read_cells


@dataclass
class LoadReport:
    """What happened while a notebook's definition cells ran."""

    path: Path
    cells_run: int = 0
    errors: list[str] = field(default_factory=list)


def load_notebook(path: Path, module_name: str) -> tuple[types.ModuleType, LoadReport]:
    """Execute the definition cells of ``path`` in a fresh module registered as ``module_name``.

    Only for trusted notebooks (the reference); a submission's cells run in ``gradebox.server``."""
    path = Path(path)
    module = types.ModuleType(module_name)
    module.__file__ = str(path)
    sys.modules[module_name] = module  # dataclasses and pickling look classes up here
    sources = definition_sources(read_cells(path))
    errors = run_cells(sources, module.__dict__, f"{path.name}, definition cell")
    return module, LoadReport(path, len(sources) - len(errors), errors)
