"""Shared fixtures: Gradescope's grading of the generated folders (once per run, shared by the test
processes), submissions made from the reference, and one torch thread for model tests."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from grader.framework import REPO, parts
from grader.gradescope import build_zip

# The longest tests (1-2 min each, bench/README.md lists them), started first: on two workers, a long
# test that starts last leaves the other worker idle until it ends (79 s at the end of one measured run).
LONGEST_FIRST = (
    "tests/test_nbgrader.py::test_nbgrader_round_trip",
    "tests/test_gradescope.py::test_reference_gets_every_point",
    "tests/test_gradescope.py::test_untouched_stub_scores_zero",
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


def unpack(archive: Path, folder: Path) -> None:
    """Unzip as Gradescope does, with each entry's permissions (``zipfile`` alone drops them)."""
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            Path(zipped.extract(info, folder)).chmod(info.external_attr >> 16 & 0o777)


def run_autograder(archive: Path, root: Path, files: list[Path], **env: str) -> dict:
    """Gradescope's run on ``files``: unpack, upload, run ``run_autograder``; the results.json."""
    from saecourse.utils import cache_dir

    unpack(archive, root / "source")
    (root / "submission").mkdir()
    for path in files:
        shutil.copy2(path, root / "submission" / path.name)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable,
           "SAECOURSE_CACHE": str(cache_dir()), **env}
    run = subprocess.run([str(root / "source" / "run_autograder")], env=env, cwd=root, capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return json.loads((root / "results" / "results.json").read_text())


def once_per_run(tmp_path_factory: pytest.TempPathFactory, name: str, compute: Callable[[Path], Any]) -> Any:
    """``compute(folder)``'s JSON result, computed by the first test process of this run that asks
    (pytest-xdist's workers share the run's temporary folder) and read back by the others."""
    root = tmp_path_factory.getbasetemp()
    root = root.parent if "PYTEST_XDIST_WORKER" in os.environ else root
    result = root / f"{name}.json"
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the others wait here while the first computes
        if not result.exists():
            folder = root / name
            folder.mkdir()
            result.write_text(json.dumps(compute(folder)))
    return json.loads(result.read_text())


@pytest.fixture(scope="session")
def gradescope_graded(tmp_path_factory) -> Callable[[str], dict]:
    """``gradescope_graded("solutions")`` (or ``"student"``): Gradescope's run on every notebook of that
    folder, from a fresh autograder zip, once per run: ``{"results": results.json, "source": the unpacked
    zip}``. The Gradescope tests check its form and total, the gates each part's scores."""

    def graded(folder_name: str) -> dict:
        def compute(folder: Path) -> dict:
            archive = build_zip(folder / "gradescope.zip")
            results = run_autograder(archive, folder, sorted((REPO / folder_name).glob("*.ipynb")))
            return {"results": results, "source": str(folder / "source")}

        return once_per_run(tmp_path_factory, f"gradescope-{folder_name}", compute)

    return graded


def part_tests(results: dict, part: str) -> list[dict]:
    """The tests of ``part`` in a Gradescope ``results.json`` (named ``<part>::<test>``)."""
    return [t for t in results["tests"] if t["name"].split("::")[0] == part]


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
