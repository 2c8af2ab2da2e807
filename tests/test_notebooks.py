"""Every solution notebook runs end to end at smoke size, demo cells and plots included.

The graders skip demo cells, so without this test a broken training demo or plot would go
unnoticed. ``SAECOURSE_SIZE=smoke`` shrinks their data and step counts; the code is the same as
in a full run (``make solutions``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grader.execute import execute, output_dirs
from grader.framework import COURSE, parts

SAVED_PLOT = re.compile(r"save_figure\(\s*\w+\s*,\s*['\"](\w+)['\"]\s*\)")


def expected_plots(part: str) -> list[str]:
    """The names of the PNG files the notebook saves, read off its ``save_figure`` calls."""
    return SAVED_PLOT.findall((COURSE / f"{part}.py").read_text())


def saved(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


@pytest.mark.parametrize("part", parts())
def test_solution_notebook_runs_at_smoke_size(part, tmp_path, monkeypatch):
    monkeypatch.setenv("SAECOURSE_THREADS", "1")  # beside other tests on a 2-core machine
    execute(part, "smoke", build=tmp_path)  # raises NotebookFailed, naming the cell, if any cell fails
    _, plots = output_dirs(tmp_path, "smoke")
    expected = expected_plots(part)
    missing = [name for name in expected if not saved(plots / f"{name}.png")]
    assert expected, f"{part} saves no plot: save_figure calls are how this test knows what to expect"
    assert not missing, f"{part} did not save these plots (or saved them empty): {missing}"
