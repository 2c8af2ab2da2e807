"""`make grade-all`: one Gradescope results.json per submission and a CSV gradebook."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

from grader.framework import REPO, parts
from tests.conftest import make_submission

PART = "part1_toy_superposition"
FAST = "test_generate_batch_values or test_toy_model_forward or test_importance_weighted_loss"


def test_gradebook_for_three_submissions(tmp_path):
    classroom = tmp_path / "submissions"
    make_submission(classroom / "alice", PART)
    make_submission(classroom / "bob", PART, source="student")
    make_submission(classroom / "carol", PART, (REPO / "tests/wrong_answers" / PART / "no_output_relu.py").read_text())
    (classroom / "dave").mkdir()  # submitted nothing
    out = tmp_path / "grades"
    run = subprocess.run([sys.executable, "-m", "grader.gradebook", str(classroom), "--out", str(out), "-k", FAST],
                         capture_output=True, text=True, cwd=REPO, timeout=600)
    assert run.returncode == 0, run.stderr
    rows = {row["submission"]: row for row in csv.DictReader((out / "gradebook.csv").open())}
    assert list(rows["alice"]) == ["submission", *parts(), "total", "max_total", "grader_version", "course_hash", "sandbox"]
    assert {row["sandbox"] for row in rows.values()} == {"bubblewrap"}
    assert [float(rows[name]["total"]) for name in ("alice", "bob", "carol", "dave")] == [5, 0, 3, 0]
    assert float(rows["alice"]["max_total"]) == 5
    for name in rows:
        report = json.loads((out / name / "results.json").read_text())
        assert report["score"] == float(rows[name]["total"])
