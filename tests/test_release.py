"""The student release: nothing in it a student must not see, and its checks work from it alone."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from gradebox import wire
from grader import answers
from grader.framework import REPO, graded_tests, parts
from grader.release import build_release, needed_revealing
from saecourse.cells import definition_sources, read_cells, read_percent
from tests.test_gates import SOLUTION
from tests.mutation import wrong_answers


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("release") / "release"
    build_release(folder, reference_sae=False)  # test_release_ships_the_reference_sae checks that part
    return folder


def _text_files(folder: Path) -> dict[Path, str]:
    return {p: p.read_text() for p in folder.rglob("*") if p.is_file() and p.suffix != ".key"}


def _solution_lines(part: str) -> set[str]:
    """Lines of ``part``'s solutions that appear nowhere else in the course (given code shares some) and
    in no other part's solutions: an idiom such as ``loss.backward()`` is Part 2's answer and Part 6's,
    and cannot tell which one a helper that a later part needs (Part 2's ``training``) gives away."""
    course = (REPO / "course" / f"{part}.py").read_text()
    outside = "\n".join(SOLUTION.sub("", (REPO / "course" / f"{p}.py").read_text()) for p in parts())
    others = {line.strip() for p in parts() if p != part
              for block in SOLUTION.findall((REPO / "course" / f"{p}.py").read_text()) for line in block.splitlines()}
    return {line.strip() for block in SOLUTION.findall(course) for line in block.splitlines()
            if len(line.strip()) >= 12 and not line.strip().startswith("#") and line.strip() not in outside
            and line.strip() not in others}


@pytest.mark.parametrize("part", parts())
def test_release_holds_no_solution_hidden_test_or_reference(release, part):
    files = _text_files(release)
    assert not (release / "course").exists() and not (release / "solutions").exists()
    assert not list(release.rglob("reference*.py")), "a reference module is in the release"
    solution_lines = _solution_lines(part)
    hidden = {t.name for t in graded_tests(part) if not t.visible}
    key = wire.decode((release / "grader" / "keys" / f"{part}.visible.key").read_bytes())
    hidden_only_answers = set(answers._ANSWERS.get(part, {})) - set(key["answers"])
    # a helper module a later part needs may show this part's answers, and only those (needed_revealing)
    shown_by = {release / "saecourse" / m for m, revealed in needed_revealing(parts()).items() if revealed == part}
    for path, text in files.items():
        where = path.relative_to(release)
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS"):
            assert marker not in text, f"{where} contains '{marker}'"
        assert not {n for n in hidden | hidden_only_answers if n in text}, f"{where} names hidden tests or their answers"
        if path not in shown_by:
            assert not solution_lines & {ln.strip() for ln in text.splitlines()}, f"solution code in {where}"
    if part in answers._ANSWERS:  # Parts 1-2 keep costly answers that only hidden tests use
        assert hidden_only_answers, "expected hidden-only answers (e.g. the real-activation metrics) to stay out"


def test_release_of_early_parts_holds_no_later_part_and_no_helper_that_reveals_them(tmp_path):
    """Released before Part 2 is due, Parts 1-2 come without ``training.py`` (Part 2's exported answers) and
    without ``saes.py``, which imports it."""
    early = parts()[:2]
    folder = tmp_path / "release"
    build_release(folder, early)
    notebooks = sorted(p.stem for p in folder.glob("part*.ipynb"))
    assert notebooks == early and sorted(p.stem for p in (folder / "grader" / "parts").glob("part*.py")) == early
    assert not (folder / "saecourse" / "training.py").exists()
    for later in ("interpret.py", "interventions.py", "probes.py", "project.py"):  # later parts' answers, for later
        assert not (folder / "saecourse" / later).exists(), f"a release of Parts 1-2 holds saecourse/{later}"
    assert not (folder / "saecourse" / "saes.py").exists() and not (folder / "saecourse" / "assets" / "reference_sae").exists()


def test_release_ships_the_reference_sae(tmp_path, monkeypatch):
    """With a part that needs it, the release carries the trained reference SAE, and
    ``saes.reference_sae()`` loads it there when the user cache has none."""
    from saecourse import saelens, saes

    trained = tmp_path / "cache_sae"
    saelens.write_folder(trained, {"W_enc": torch.randn(6, 4), "b_enc": torch.zeros(4), "W_dec": torch.randn(4, 6),
                                   "b_dec": torch.zeros(6)}, {"architecture": "standard", "d_in": 6, "d_sae": 4})
    monkeypatch.setattr(saes, "reference_folder", lambda *a, **k: trained)
    folder = tmp_path / "release"
    build_release(folder)
    shipped = folder / "saecourse" / "assets" / "reference_sae"
    assert (shipped / "sae_weights.safetensors").read_bytes() == (trained / "sae_weights.safetensors").read_bytes()
    probe = ("import sys; from pathlib import Path; sys.path.insert(0, '.'); from saecourse import saes; "
             "saes.reference_folder = lambda *a, **k: Path('/nonexistent'); print(saes.reference_sae().d_sae)")
    run = subprocess.run([sys.executable, "-c", probe], cwd=folder, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.split()[-1] == "4", run.stderr[-2000:]


def test_release_zip_matches_the_folder(release):
    with zipfile.ZipFile(release.with_suffix(".zip")) as zf:
        names = sorted(zf.namelist())
    assert names == sorted(f"release/{p.relative_to(release)}" for p in release.rglob("*") if p.is_file())


# Runs in the release folder, as a student's notebook would: every job's definition cells in a
# fresh namespace, then its checks. The release's own grader answers (no course/, no reference).
NOTEBOOK = """
import json, sys, types
import gradebox
part, jobs = sys.argv[1], json.load(open(sys.argv[2]))
shared = gradebox.checker(part)
gradebox.checker = lambda _part: shared  # one judge process for every job
results = {}
for job in jobs:
    namespace = types.ModuleType("__main__").__dict__
    for cell in job["cells"]:
        exec(cell, namespace)
    outcome = results[job["name"]] = {}
    for test in job["tests"]:
        try:
            exec(f"check({test!r})", namespace)
            outcome[test] = "passed"
        except gradebox.CheckFailed as err:
            outcome[test] = str(err)
import grader, saecourse
print(json.dumps({"results": results, "paths": [grader.__file__, saecourse.__file__]}))
"""


def run_in_release(release: Path, part: str, jobs: list[dict], tmp_path: Path) -> dict[str, dict[str, str]]:
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    run = subprocess.run([sys.executable, "-c", NOTEBOOK, part, str(tmp_path / "jobs.json")], cwd=release,
                         capture_output=True, text=True, timeout=1200, env={"PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg",
                                                                            "SAECOURSE_THREADS": "1", "HOME": str(Path.home())})
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.splitlines()[-1])
    assert all(Path(p).resolve().is_relative_to(release.resolve()) for p in report["paths"]), report["paths"]
    return report["results"]


def _cells(source: str, part: str, text: str | None = None) -> list[str]:
    """Definition cells of ``<source>/<part>.py``, or of ``text`` (a wrong answer's notebook)."""
    return definition_sources(read_cells(REPO / source / f"{part}.py") if text is None else read_percent(text))


@pytest.mark.parametrize("part", parts())
def test_release_checks_pass_the_reference_and_fail_the_stub_and_the_wrong_answers(release, part, tmp_path):
    """From the release alone, the visible checks pass the reference and fail the stub; and every wrong
    answer that targets a visible test fails it in the release too (a check that measures training with
    the student's own functions must still fail at least one target). One judge serves all of them."""
    visible = {t.name: t for t in graded_tests(part) if t.visible}
    jobs = [{"name": "reference", "cells": _cells("solutions", part), "tests": list(visible)},
            {"name": "stub", "cells": _cells("student", part), "tests": list(visible)}]
    wrong = [(w, [t for t in w.tests if t in visible]) for w in wrong_answers() if w.part == part]
    jobs += [{"name": w.name, "cells": _cells("solutions", part, w.source()), "tests": targets} for w, targets in wrong if targets]
    results = run_in_release(release, part, jobs, tmp_path)
    reference, stub = results.pop("reference"), results.pop("stub")
    assert all(v == "passed" for v in reference.values()), reference
    assert not [t for t, v in stub.items() if v == "passed"], stub
    for fixture, outcome in results.items():
        passed = {t for t, v in outcome.items() if v == "passed"}
        exact = {t for t in outcome if not visible[t].measures}
        assert not passed & exact, f"{fixture}: the release's check passes {passed & exact}"
        assert passed != set(outcome), f"{fixture}: the release's checks pass all its targets {sorted(passed)}"
