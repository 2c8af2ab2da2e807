"""Shared fixtures: grading results of the generated folders, computed once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from grader.framework import REPO, parts
from grader.run import PartResult, grade_submission

# The longest tests (1-2 min each, bench/README.md lists them), started first: on two workers, a long
# test that starts last leaves the other worker idle until it ends (79 s at the end of one measured run).
LONGEST_FIRST = (
    "tests/test_nbgrader.py::test_nbgrader_round_trip",
    "tests/test_gradescope.py::test_reference_gets_every_point",
    "tests/test_gradescope.py::test_untouched_stub_scores_zero",
    "tests/test_gates.py::test_solutions_pass_every_grader_test",
    "tests/test_gates.py::test_untouched_student_stubs_score_zero",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(LONGEST_FIRST))  # stable: the rest keep their order


@pytest.fixture(scope="module")
def one_thread():
    """Model tests run beside other work on a 2-core machine: one torch thread each."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def solutions_results() -> dict[str, PartResult]:
    return {r.part: r for r in grade_submission(REPO / "solutions")}


@pytest.fixture(scope="session")
def student_results() -> dict[str, PartResult]:
    return {r.part: r for r in grade_submission(REPO / "student")}


def make_submission(folder: Path, part: str, appended_code: str = "", source: str = "solutions",
                    text: str | None = None) -> Path:
    """A submission folder holding ``<source>/<part>.py`` (or ``text``, e.g. a wrong answer's
    mutated reference) with ``appended_code`` as a final cell.

    Later definitions replace earlier ones, so appending a function reproduces a student who wrote
    that function so (the rest of the notebook calls it by name).
    """
    folder.mkdir(parents=True, exist_ok=True)
    text = (REPO / source / f"{part}.py").read_text() if text is None else text
    if appended_code:
        text += "\n\n# %%\n" + appended_code
    (folder / f"{part}.py").write_text(text)
    return folder


def copy_submission(source: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for part in parts():
        shutil.copy(source / f"{part}.py", folder / f"{part}.py")
    return folder
