"""What a graded test is, where the parts live, and how the judge reaches the reference solution.

A graded test is a plain function ``test_x(sub, ref)`` that runs in the judge, a trusted process:
``sub`` is a proxy for the student's notebook, which runs in a confined process of its own
(``grader.remote``): calling ``sub.f(x)`` sends ``x`` there and returns ``f``'s result as data.
``ref`` is the reference solution loaded from ``course/``, here in the judge only; answers that
are costly to compute come from the answer key (``grader.answers``). The same function runs under
pytest (``python -m grader``) and from a notebook (``check("test_x")``, through ``grader.judge``).
"""

from __future__ import annotations

import functools
import importlib
import re
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from grader.loader import load_notebook

REPO = Path(__file__).resolve().parent.parent
COURSE = REPO / "course"
PART_FILE = re.compile(r"^(part(\d+)_\w+)\.(py|ipynb)$")
DEFAULT_TIMEOUT = 120  # seconds the submission may compute per test, unless the test says otherwise
JUDGE_GRACE = 120  # extra seconds for the judge's own work before pytest-timeout stops a test


@dataclass(frozen=True)
class GradedTest:
    """A graded test's metadata, read off the function the ``graded`` decorator marked."""

    part: str
    name: str
    points: float
    visible: bool
    timeout: float
    measures: bool


def parts() -> list[str]:
    """The course's parts in order, e.g. ``['part1_toy_superposition', ...]``: one graded-tests
    module each (``grader/parts``; the student release has those, not ``course/``)."""
    found = [m for p in (REPO / "grader" / "parts").glob("part*.py") if (m := PART_FILE.match(p.name))]
    return [m.group(1) for m in sorted(found, key=lambda m: int(m.group(2)))]


def part_name(part: str | int) -> str:
    """Accept ``1``, ``'1'``, ``'part1'`` or the full name; return the full part name."""
    key = str(part)
    for name in parts():
        if key in (name, name.split("_")[0], name.split("_")[0].removeprefix("part")):
            return name
    raise ValueError(f"unknown part {part!r}; the course has {parts()}")


def graded(points: float, visible: bool = True, timeout: float = DEFAULT_TIMEOUT, measures: bool = False) -> Callable:
    """Mark a test function with its points, visibility and the seconds its calls into the
    submission may take (the judge's own work gets ``JUDGE_GRACE`` more, via pytest-timeout).

    ``measures``: the test measures what the submission computed (a trained model's loss) with
    reference functions; in the student release, which has no reference, those measurements use
    the student's own functions (``grader.replay``)."""

    def mark(fn: Callable) -> Callable:
        fn.points, fn.visible, fn.timeout, fn.measures = points, visible, timeout, measures
        return pytest.mark.timeout(timeout + JUDGE_GRACE)(fn)

    return mark


def tests_module(part: str) -> types.ModuleType:
    """The pytest module holding the graded tests of ``part``."""
    return importlib.import_module(f"grader.parts.{part}")


def tests_file(part: str) -> Path:
    return Path(tests_module(part).__file__)


def graded_tests(part: str) -> list[GradedTest]:
    """Every graded test of a part, in file order."""
    mod = tests_module(part)
    fns = [f for n, f in vars(mod).items() if n.startswith("test_") and hasattr(f, "points")]
    fns.sort(key=lambda f: f.__code__.co_firstlineno)
    return [GradedTest(part, f.__name__, f.points, f.visible, f.timeout, f.measures) for f in fns]


def has_reference(part: str) -> bool:
    """False in the student release, which has the visible tests and their recorded answers only."""
    return (COURSE / f"{part}.py").is_file()


@functools.cache
def reference(part: str) -> types.ModuleType:
    """The reference solution: the definition cells of ``course/<part>.py``."""
    module, report = load_notebook(COURSE / f"{part}.py", f"reference_{part}")
    if report.errors:
        raise RuntimeError(f"the reference solution of {part} does not load:\n" + "\n".join(report.errors))
    return module

