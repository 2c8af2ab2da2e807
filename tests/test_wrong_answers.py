"""Every grader test must fail a plausible wrong answer: each fixture under tests/wrong_answers/<part>/
is the reference notebook with one mistake appended, and must lose the points of the tests it targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.framework import graded_tests, parts
from grader.run import grade_part
from tests.conftest import make_submission

FIXTURES = Path(__file__).parent / "wrong_answers"
MIN_FIXTURES = {"part1_toy_superposition": 8, "part2_training_saes": 10, "part3_interpreting_features": 12,
                "part4_validating_features": 12, "part5_comparing_methods": 16,
                "part6_feature_splitting": 20, "part7_project_template": 10}


def fixtures() -> list[tuple[str, Path]]:
    return [(part, f) for part in parts() for f in sorted((FIXTURES / part).glob("*.py"))]


def targets(fixture: Path) -> list[str]:
    header = fixture.read_text().splitlines()[0]
    assert header.startswith("# targets:"), f"{fixture.name} must start with '# targets: test_a test_b'"
    return header.removeprefix("# targets:").split()


@pytest.mark.parametrize("part", parts())
def test_enough_wrong_answers(part):
    assert len([f for p, f in fixtures() if p == part]) >= MIN_FIXTURES.get(part, 3)


@pytest.mark.parametrize("part", parts())
def test_every_fixture_targets_real_tests(part):
    names = {t.name for t in graded_tests(part)}
    for p, fixture in fixtures():
        if p == part:
            assert set(targets(fixture)) <= names, f"{fixture.name} targets unknown tests"


@pytest.mark.parametrize("part,fixture", fixtures(), ids=lambda v: v.stem if isinstance(v, Path) else v)
def test_wrong_answer_loses_its_points(part, fixture, tmp_path):
    wanted = targets(fixture)
    folder = make_submission(tmp_path / fixture.stem, part, fixture.read_text())
    result = grade_part(part, folder / f"{part}.py", keyword=" or ".join(wanted))
    outcome = {t["name"]: t for t in result.tests}
    for name in wanted:
        assert name in outcome, f"{name} did not run"
        assert outcome[name]["score"] == 0, f"{fixture.name}: {name} still gave {outcome[name]['score']} points"
        assert "not graded" not in outcome[name]["output"], f"{name} crashed instead of failing: {outcome[name]['output']}"
