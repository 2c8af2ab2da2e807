"""`make gradescope`: the autograder zip, unpacked and run the way Gradescope runs it.

Each test lays out a temporary autograder root (``source/`` from the zip, ``submission/`` with
the student's files) and runs ``source/run_autograder`` with ``AUTOGRADER_ROOT`` pointing there and
``AUTOGRADER_PYTHON`` this venv's Python (``setup.sh`` itself installs from the network, so it is
not run here). Every submission is graded once, fully: the reference must get every point. The
reference and the untouched stub are graded once per run (``gradescope_graded`` in conftest) and
shared with the gates, which check each part's scores in the same results.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.framework import REPO, graded_tests, parts
from grader.gradescope import build_zip
from grader.gradescope_run import collect, summary
from grader.rubrics import manual_points, written_questions
from tests.conftest import run_autograder

VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}  # Gradescope's values


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory) -> Path:
    return build_zip(tmp_path_factory.mktemp("zip") / "gradescope.zip")


def total_points() -> float:
    return sum(t.points for part in parts() for t in graded_tests(part))


def assert_gradescope_shape(results: dict) -> None:
    """The fields Gradescope reads, on the whole and on every test."""
    assert isinstance(results["score"], (int, float)) and isinstance(results["output"], str)
    assert results["max_score"] == total_points()
    assert results["extra_data"]["sandbox"] == "bubblewrap"
    names = [t["name"] for t in results["tests"]]
    assert len(names) == len(set(names)) == sum(len(graded_tests(part)) for part in parts())
    for test in results["tests"]:
        assert {"name", "score", "max_score", "visibility", "output"} <= set(test)
        assert test["visibility"] in VISIBILITIES and 0 <= test["score"] <= test["max_score"]


def unpacked_course_hash(source: Path) -> str:
    """The course hash of the zip's own sources, computed as the grader computes it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(source), str(source / "course")])}
    run = subprocess.run([sys.executable, "-c", "from grader.answers import course_hash; print(course_hash()[:16])"],
                         env=env, cwd=source, capture_output=True, text=True, check=True)
    return run.stdout.strip()


def test_zip_is_reproducible_and_holds_what_grading_needs(autograder_zip, tmp_path):
    assert build_zip(tmp_path / "again.zip").read_bytes() == autograder_zip.read_bytes()
    with zipfile.ZipFile(autograder_zip) as zipped:
        modes = {info.filename: info.external_attr >> 16 for info in zipped.infolist()}
    assert modes["setup.sh"] == modes["run_autograder"] == 0o100755
    for script in ("setup.sh", "run_autograder"):
        subprocess.run(["bash", "-n", str(REPO / "gradescope" / script)], check=True)  # parses
    needed = {"pyproject.toml", "README.md", "autograder.env", "grader/__main__.py", "gradebox/server.py",
              *(f"course/{part}.py" for part in parts()), *(f"student/{part}.py" for part in parts())}
    assert needed <= set(modes)
    unwanted = [name for name in modes if name.split("/")[0] in ("tests", "solutions", ".venv", "build")
                or "__pycache__" in name or name.endswith((".pyc", ".ipynb"))]
    assert not unwanted


def test_reference_gets_every_point(gradescope_graded):
    graded = gradescope_graded("solutions")  # shared with test_gates, which checks each part
    results = graded["results"]
    assert_gradescope_shape(results)
    failed = {t["name"]: t["output"][:300] for t in results["tests"] if t["status"] != "passed"}
    assert not failed
    assert results["score"] == results["max_score"] == total_points() > 0
    assert results["extra_data"]["course_hash"] == unpacked_course_hash(Path(graded["source"]))
    assert results["output"].startswith("Graded:") and "Missing" not in results["output"]
    for part, points in manual_points().items():
        assert any(line.startswith(f"  {part}: Question") and line.endswith(" points)")
                   for line in results["output"].splitlines()), f"{part}'s written questions are not listed"


def test_zip_carries_every_rubric(autograder_zip):
    """The staff's material: every written question, its points, rubric and model answer."""
    with zipfile.ZipFile(autograder_zip) as archive:
        text = archive.read("rubrics.md").decode()
    for part in parts():
        for question in written_questions(part):
            assert f"## {part}: {question.title} ({question.points} points" in text
            assert question.model_answer and question.model_answer in text


def test_untouched_stub_scores_zero(gradescope_graded):
    results = gradescope_graded("student")["results"]  # shared with test_gates, which checks each part
    assert_gradescope_shape(results)
    assert results["score"] == 0 and all(t["score"] == 0 for t in results["tests"])


def test_empty_submission_scores_zero_and_says_why(autograder_zip, tmp_path):
    results = run_autograder(autograder_zip, tmp_path, [])
    assert_gradescope_shape(results)
    assert results["score"] == 0
    assert "No notebook of this course was found" in results["output"]


def test_a_grader_that_cannot_grade_still_gives_results(autograder_zip, tmp_path):
    stub = REPO / "student" / f"{parts()[0]}.ipynb"
    results = run_autograder(autograder_zip, tmp_path, [stub], GRADER_BWRAP="/nonexistent/bwrap")
    assert results["score"] == 0 and results["tests"] == []
    assert "could not grade this submission" in results["output"] and "bubblewrap" in results["output"]


def test_a_python_that_cannot_start_still_gives_results(autograder_zip, tmp_path):
    results = run_autograder(autograder_zip, tmp_path, [], AUTOGRADER_PYTHON=str(tmp_path / "no-python"))
    assert results["score"] == 0 and results["tests"] == []
    assert "could not start" in results["output"]


def test_unsafe_zip_records_the_missing_sandbox(tmp_path):
    archive = build_zip(tmp_path / "unsafe.zip", unsafe_no_sandbox=True)
    results = run_autograder(archive, tmp_path / "root", [])
    assert results["extra_data"]["sandbox"] == "none (--unsafe-no-sandbox)"


def test_upload_is_matched_by_name_in_any_folder_and_case(tmp_path):
    part1, part2 = parts()[:2]
    for name in (f"hw/{part1.capitalize()}.ipynb", f"{part2}.py", f"hw/deeper/{part2}.py",
                 f"hw/.ipynb_checkpoints/{part1}-checkpoint.ipynb", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    (tmp_path / f"{part2}.ipynb").symlink_to(REPO / "solutions" / f"{part2}.ipynb")  # never followed

    upload = collect(tmp_path)
    assert upload.chosen == {f"{part1}.ipynb": tmp_path / "hw" / f"{part1.capitalize()}.ipynb",
                             f"{part2}.py": tmp_path / f"{part2}.py"}  # the one nearer the top
    ignored = {str(p.relative_to(tmp_path)): why for p, why in upload.ignored.items()}
    assert ignored == {f"hw/deeper/{part2}.py": f"{part2}.py was taken from {part2}.py",
                       f"hw/.ipynb_checkpoints/{part1}-checkpoint.ipynb": "not a file of this course",
                       "notes.txt": "not a file of this course", f"{part2}.ipynb": "a symbolic link"}
    text = summary(upload, tmp_path)
    assert f"(as {part1}.ipynb)" in text and "Not graded" in text
    later = parts()[2:]  # not in this upload
    assert ("Missing, so their tests score 0: " + ", ".join(later)) in text if later else "Missing" not in text
