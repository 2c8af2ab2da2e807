"""The course's soundness gates: what `make check` proves about course/, solutions/ and student/."""

from __future__ import annotations

import re

import jupytext
import pytest

from grader.build import build, read_source
from grader.framework import REPO, parts, graded_tests
from saecourse.cells import is_test_cell
from tests.conftest import part_tests

SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
CHECK = re.compile(r"check\(\s*['\"](\w+)['\"]\s*\)")


def test_every_part_exists_in_all_three_forms():
    assert parts(), "no course/partN_*.py found"
    for part in parts():
        for folder in ("solutions", "student"):
            for suffix in (".py", ".ipynb"):
                assert (REPO / folder / f"{part}{suffix}").exists(), f"{folder}/{part}{suffix} is missing: run make build"


def test_generated_folders_equal_a_fresh_build():
    stale = build(check=True)
    assert not stale, f"out of date (run make build, never edit generated files): {[str(p.relative_to(REPO)) for p in stale]}"


@pytest.mark.parametrize("part", parts())
def test_solutions_pass_every_grader_test(part, gradescope_graded):
    tests = part_tests(gradescope_graded("solutions")["results"], part)  # Gradescope's run of solutions/
    assert {t["name"] for t in tests} == {f"{part}::{t.name}" for t in graded_tests(part)}
    failed = {t["name"]: t["output"][:800] for t in tests if t["status"] != "passed"}
    assert not failed, f"the reference solution fails: {failed}"
    assert sum(t["score"] for t in tests) == sum(t["max_score"] for t in tests) > 0


@pytest.mark.parametrize("part", parts())
def test_untouched_student_stubs_score_zero(part, gradescope_graded):
    tests = part_tests(gradescope_graded("student")["results"], part)
    assert {t["name"] for t in tests} == {f"{part}::{t.name}" for t in graded_tests(part)}
    scored = {t["name"]: t["score"] for t in tests if t["score"] > 0}
    assert not scored, f"these tests give points to an untouched stub, so they cannot fail: {scored}"


@pytest.mark.parametrize("part", parts())
def test_no_solution_or_hidden_test_leaks_into_student(part):
    course = (REPO / "course" / f"{part}.py").read_text()
    hidden_tests = {t.name for t in graded_tests(part) if not t.visible}
    outside_solutions = SOLUTION.sub("", course)
    solution_lines = {
        line.strip() for block in SOLUTION.findall(course) for line in block.splitlines()
        if len(line.strip()) >= 12 and not line.strip().startswith("#") and line.strip() not in outside_solutions
    }
    for suffix in (".py", ".ipynb"):
        text = (REPO / "student" / f"{part}{suffix}").read_text()
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS"):
            assert marker not in text, f"student/{part}{suffix} contains '{marker}'"
        leaked = [name for name in hidden_tests if name in text]
        assert not leaked, f"hidden tests named in student/{part}{suffix}: {leaked}"
        if suffix == ".py":
            student_lines = {line.strip() for line in text.splitlines()}
            assert not solution_lines & student_lines, f"solution code in student/{part}.py: {solution_lines & student_lines}"


@pytest.mark.parametrize("folder", ["solutions", "student"])
@pytest.mark.parametrize("part", parts())
def test_jupytext_pairs_in_sync(folder, part):
    py = jupytext.read(REPO / folder / f"{part}.py")
    ipynb = jupytext.read(REPO / folder / f"{part}.ipynb")
    as_tuples = lambda nb: [(c.cell_type, c.source, c.metadata) for c in nb.cells]  # noqa: E731
    assert as_tuples(py) == as_tuples(ipynb), f"{folder}/{part}.py and .ipynb have different cells"


@pytest.mark.parametrize("part", parts())
def test_notebook_test_cells_match_the_grader(part):
    """Every graded test is called exactly once: visible ones in a test cell, hidden ones inside its
    hidden block; each cell's nbgrader points equal the points of the tests it calls."""
    tests = {t.name: t for t in graded_tests(part)}
    called: list[str] = []
    for cell in read_source(part).cells:
        if cell.cell_type != "code" or not is_test_cell(cell):
            continue
        hidden = {n for block in HIDDEN.findall(cell.source) for n in CHECK.findall(block)}
        names = CHECK.findall(cell.source)
        unknown = [n for n in names if n not in tests]
        assert not unknown, f"cell {cell.id} calls tests the grader does not have: {unknown}"
        for name in names:
            assert tests[name].visible == (name not in hidden), f"{name}: visibility differs between notebook and grader"
        points = cell.metadata["nbgrader"].get("points")
        assert points == sum(tests[n].points for n in names), f"cell {cell.id}: nbgrader points {points} != grader points"
        called += names
    assert sorted(called) == sorted(tests), f"tests not called exactly once from the notebook: {set(tests) ^ set(called)}"


@pytest.mark.parametrize("part", parts())
def test_nbgrader_metadata_is_consistent(part):
    ids = []
    for cell in read_source(part).cells:
        meta = cell.metadata.get("nbgrader")
        if not meta:
            assert "BEGIN SOLUTION" not in cell.source, f"solution region outside a solution cell: {cell.source[:80]}"
            continue
        assert meta.get("schema_version") == 3 and "grade_id" in meta, f"incomplete nbgrader metadata: {meta}"
        ids.append(meta["grade_id"])
    assert len(ids) == len(set(ids)), "nbgrader grade_ids must be unique"


EXPECT = re.compile(r"(?<![\w.])expect\(")
MIN_CLAIMS_PER_PART = 5


def claims_checked(part: str) -> int:
    """The ``expect(...)`` calls in ``part``'s demo cells: the sentences about the run the run checks."""
    return sum(len(EXPECT.findall(cell.source)) for cell in read_source(part).cells
               if cell.cell_type == "code" and "demo" in cell.metadata.get("tags", []))


@pytest.mark.parametrize("part", parts())
def test_each_part_checks_its_claims(part):
    """The prose's claims about a run are backed by ``saecourse.claims.expect`` in the demo cells
    before them, and no expect sits outside a demo cell (the grader skips those, so it would run there)."""
    assert claims_checked(part) >= MIN_CLAIMS_PER_PART, (
        f"{part} checks {claims_checked(part)} claims with expect(...); at least {MIN_CLAIMS_PER_PART} expected")
    for cell in read_source(part).cells:
        if cell.cell_type == "code" and "demo" not in cell.metadata.get("tags", []):
            assert not EXPECT.search(cell.source), f"{part}, {cell.id}: expect(...) outside a demo cell"


@pytest.mark.parametrize("part", parts())
def test_written_questions_have_sound_rubrics(part):
    """Every question graded by hand shows a rubric whose points add up to the cell's, and keeps a
    model answer in its solution region (``grader.rubrics``)."""
    from grader.rubrics import problems, written_questions

    found = [problem for question in written_questions(part) for problem in problems(question)]
    assert not found, "\n".join(found)
