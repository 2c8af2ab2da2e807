"""``python -m grader.nbgrader_roundtrip [PART ...]``: grade the course with stock nbgrader, end to end.

For each part, in a temporary course directory configured by the repository's
``nbgrader_config.py`` (only its root moved), this runs what an instructor runs:

1. ``nbgrader generate_assignment`` on the solution notebook;
2. two submissions: the solution notebook as student ``reference``, and the release that
   ``generate_assignment`` made, untouched, as student ``stub``;
3. ``nbgrader autograde`` for each, which executes the notebook in a fresh kernel with the
   config's cell timeout and ``SAECOURSE_SIZE=smoke`` (so demo cells run, quickly);
4. then reads each score from nbgrader's gradebook database (nbgrader exits 0 whether or not
   tests fail, so the exit code says nothing about scores) and looks at the autograded notebooks.

The expectation is computed, not written down: the reference earns every graded test's points
(``grader.framework.graded_tests``), the stub none, and both are out of the total points in the
notebook's nbgrader metadata, manually graded answers included (nbgrader leaves those to a
person). The round trip also requires that

* the reference's autograded notebook shows no error at all, demo cells included, and it saved
  every plot the notebook's ``save_figure`` calls name (non-empty PNG files): the reference's
  autograde is the course's smoke run of each solution notebook, so ``make check`` executes each
  notebook once, not once here and once more in a separate smoke test;
* no cell of either submission ran into the timeout;
* every test cell nbgrader runs (hidden tests restored) only calls ``check("...")``: the expected
  values stay in the judge, out of the student's kernel;
* the release nbgrader makes has the code cells of our ``student/`` notebook.

It prints a table with scores and seconds per part and exits 1 if any part falls short.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.coursedir import CourseDirectory

from grader.execute import describe_cell
from grader.framework import COURSE, REPO, graded_tests, part_name, parts
from grader.nbgrader_course import add_source, add_submission, course_directory, notebook_path
from saecourse.cells import CHECK_CALL, code_lines

STUDENTS = ("reference", "stub")
TIMEOUT_ERROR = "CellTimeoutError"  # the error nbgrader's Execute records for a cell it interrupted
SAVED_PLOT = re.compile(r"save_figure\(\s*\w+\s*,\s*['\"](\w+)['\"]\s*\)")


@dataclass(frozen=True)
class Score:
    """Points earned out of points possible, as nbgrader's gradebook records them."""

    points: float
    max_points: float

    def __str__(self) -> str:
        return f"{self.points:g}/{self.max_points:g}"


@dataclass
class RoundTrip:
    """What one part's round trip found; ``problems`` is empty when it went as expected."""

    part: str
    scores: dict[str, Score]
    expected: dict[str, Score]
    seconds: dict[str, float]  # wall time of each student's autograde, and "total" for the part
    slowest_cell: tuple[str, float]  # the reference's slowest cell and its seconds
    plots: Path  # where the reference's autograde saved its plots
    problems: list[str] = field(default_factory=list)


def expected_scores(source: NotebookNode, part: str) -> dict[str, Score]:
    """The reference earns every graded test's points, the stub none; both out of the notebook's total."""
    total = sum(cell.metadata["nbgrader"].get("points", 0) for cell in source.cells if "nbgrader" in cell.metadata)
    earned = sum(test.points for test in graded_tests(part))
    return {"reference": Score(earned, total), "stub": Score(0, total)}


def expected_plots(part: str) -> list[str]:
    """The names of the PNG files the notebook saves, read off its ``save_figure(fig, "name")`` calls."""
    return SAVED_PLOT.findall((COURSE / f"{part}.py").read_text())


def nbgrader(course: CourseDirectory, *args: str, env: dict[str, str] | None = None) -> None:
    """Run the nbgrader command line as an instructor would: from the repository root, so it
    reads ``nbgrader_config.py``, with the course directory moved to ``course.root``; ``env`` is
    added to the environment nbgrader and its kernels see."""
    command = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course.root}", "--log-level=WARN"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[1:])} exited {done.returncode}:\n{done.stderr[-3000:]}")


def plot_folder(course: CourseDirectory, student: str) -> Path:
    """Where the kernel autograding ``student`` saves plots (``SAECOURSE_OUT``)."""
    return Path(course.root) / "plots" / student


def autograde(course: CourseDirectory, part: str, student: str) -> float:
    """``nbgrader autograde`` one student's submission; return the wall time in seconds."""
    start = time.perf_counter()
    nbgrader(course, "autograde", part, f"--student={student}", env={"SAECOURSE_OUT": str(plot_folder(course, student))})
    return time.perf_counter() - start


def gradebook_scores(course: CourseDirectory, part: str) -> dict[str, Score]:
    """Each student's score on ``part`` as nbgrader's database holds it."""
    with Gradebook(course.db_url, course.course_id) as gradebook:
        submissions = {student: gradebook.find_submission(part, student) for student in STUDENTS}
        return {student: Score(s.score, s.max_score) for student, s in submissions.items()}


def errors(nb: NotebookNode) -> list[str]:
    """``cell 12 (id ..., tags): first line: ErrorName: message`` for every error output in the notebook."""
    return [f"{describe_cell(nb, index)}: {output.ename}: {output.evalue}" for index, cell in enumerate(nb.cells)
            if cell.cell_type == "code" for output in cell.outputs if output.output_type == "error"]


def missing_plots(part: str, folder: Path) -> list[str]:
    """The plots the notebook names that are not in ``folder`` as non-empty PNG files."""
    return [name for name in expected_plots(part)
            if not ((path := folder / f"{name}.png").is_file() and path.stat().st_size > 0)]


def cell_seconds(cell: NotebookNode) -> float:
    """How long the kernel took to run ``cell``, from the timestamps nbclient records."""
    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def slowest_cell(nb: NotebookNode) -> tuple[str, float]:
    """The id and seconds of the code cell that ran longest."""
    return max(((cell.id, cell_seconds(cell)) for cell in nb.cells if cell.cell_type == "code"), key=lambda c: c[1])


def code_sources(nb: NotebookNode) -> list[str]:
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


def answer_bearing_test_cells(nb: NotebookNode) -> list[str]:
    """Ids of autograder test cells that do more than call ``check("...")`` (comments aside).

    A test cell must ask the judge; anything else it ran would run in the student's kernel.
    """
    def only_checks(source: str) -> bool:
        return all(CHECK_CALL.match(line) for line in code_lines(source))

    return [cell.id for cell in nb.cells if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")
            and not cell.metadata["nbgrader"].get("solution") and not only_checks(cell.source)]


def problems(trip: RoundTrip, autograded: dict[str, NotebookNode], release: NotebookNode) -> list[str]:
    """Every way the round trip of one part differs from what it should be."""
    found = [f"{student} scored {trip.scores[student]}, expected {trip.expected[student]}"
             for student in STUDENTS if trip.scores[student] != trip.expected[student]]
    found += [f"reference, {error}" for error in errors(autograded["reference"])]
    found += [f"test cell {cell} does more than call check()" for cell in answer_bearing_test_cells(autograded["reference"])]
    if not expected_plots(trip.part):
        found.append("the notebook saves no plot: its save_figure(fig, \"name\") calls are how the round trip knows what to expect")
    found += [f"reference saved no plot {name}.png (or an empty one)" for name in missing_plots(trip.part, trip.plots)]
    found += [f"stub, {error}" for error in errors(autograded["stub"]) if f": {TIMEOUT_ERROR}:" in error]
    student_nb = nbformat.read(REPO / "student" / f"{trip.part}.ipynb", as_version=4)
    if code_sources(release) != code_sources(student_nb):
        found.append(f"nbgrader's release differs from student/{trip.part}.ipynb")
    return found


def round_trip(part: str, root: Path) -> RoundTrip:
    """Generate, submit, autograde and check one part in the (empty) course directory ``root``."""
    start = time.perf_counter()
    course = course_directory(root)
    source = nbformat.read(add_source(course, part), as_version=4)
    nbgrader(course, "generate_assignment", part)
    release = notebook_path(course, course.release_directory, ".", part)
    add_submission(course, "reference", part, REPO / "solutions" / f"{part}.ipynb")
    add_submission(course, "stub", part, release)
    seconds = {student: autograde(course, part, student) for student in STUDENTS}
    autograded = {student: nbformat.read(notebook_path(course, course.autograded_directory, student, part), as_version=4)
                  for student in STUDENTS}
    seconds["total"] = time.perf_counter() - start
    trip = RoundTrip(part, gradebook_scores(course, part), expected_scores(source, part), seconds,
                     slowest_cell(autograded["reference"]), plot_folder(course, "reference"))
    trip.problems = problems(trip, autograded, nbformat.read(release, as_version=4))
    return trip


def table(trips: list[RoundTrip]) -> str:
    """One row per part: scores against expectations, seconds (each autograde, the whole part), the
    reference's slowest cell."""
    rows = [f"{'part':<26} {'reference':>9} {'stub':>6} {'expected':>9} {'ref s':>6} {'stub s':>6} {'total s':>7}  slowest cell",
            *(f"{t.part:<26} {t.scores['reference']!s:>9} {t.scores['stub']!s:>6} {t.expected['reference']!s:>9} "
              f"{t.seconds['reference']:>6.0f} {t.seconds['stub']:>6.0f} {t.seconds['total']:>7.0f}  "
              f"{t.slowest_cell[0]} ({t.slowest_cell[1]:.0f} s)" for t in trips)]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.nbgrader_roundtrip", description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", help="part numbers or names (default: all)")
    args = parser.parse_args(argv)
    trips = []
    for part in [part_name(p) for p in args.parts] or parts():
        with tempfile.TemporaryDirectory(prefix="nbgrader_course_") as root:
            trips.append(round_trip(part, Path(root)))
    print(table(trips))
    for trip in trips:
        for problem in trip.problems:
            print(f"{trip.part}: {problem}", file=sys.stderr)
    return 1 if any(trip.problems for trip in trips) else 0


if __name__ == "__main__":
    sys.exit(main())
