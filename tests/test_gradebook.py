"""`make grade-all`: one Gradescope results.json per submission and a CSV gradebook."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

from grader.framework import REPO, parts
from tests.conftest import make_submission
from tests.mutation import wrong_answer

PART = "part1_toy_superposition"
FAST = "test_generate_batch_values or test_toy_model_forward or test_importance_weighted_loss"


def test_gradebook_for_three_submissions(tmp_path):
    classroom = tmp_path / "submissions"
    make_submission(classroom / "alice", PART)
    make_submission(classroom / "bob", PART, source="student")
    make_submission(classroom / "carol", PART, text=wrong_answer(PART, "no_output_relu").source())
    (classroom / "dave").mkdir()  # submitted nothing
    # Hostile, graded beside the others: its threads outlive the call, its reply is over the bound.
    make_submission(classroom / "eve", PART, (
        "import threading, torch\n"
        "_loss = importance_weighted_loss\n"
        "def importance_weighted_loss(out, x, importance):\n"
        "    threading.Thread(target=lambda: [0 for _ in iter(int, 1)], daemon=True).start()\n"
        "    return _loss(out, x, importance)\n"
        "def generate_batch(batch_size, feature_probability):\n"
        "    return torch.zeros(3 * 2**20)\n"))
    make_submission(classroom / "frank", PART)  # graded after eve, by the same run
    out = tmp_path / "grades"
    env = {**os.environ, "GRADER_REPLY_MB": "8"}
    run = subprocess.run([sys.executable, "-m", "grader.gradebook", str(classroom), "--out", str(out), "-k", FAST],
                         capture_output=True, text=True, cwd=REPO, timeout=600, env=env)
    assert run.returncode == 0, run.stderr
    rows = {row["submission"]: row for row in csv.DictReader((out / "gradebook.csv").open())}
    assert list(rows["alice"]) == ["submission", *parts(), "total", "max_total", "limits_hit", "grader_version",
                                   "course_hash", "sandbox"]
    assert {row["sandbox"] for row in rows.values()} == {"bubblewrap"}
    assert [float(rows[name]["total"]) for name in ("alice", "bob", "carol", "dave", "eve", "frank")] == [5, 0, 3, 0, 2, 5]
    assert rows["eve"]["limits_hit"] == (f"reply size: {PART}::test_generate_batch_values; "
                                         f"threads: {PART}::test_importance_weighted_loss"), rows["eve"]
    assert not any(rows[name]["limits_hit"] for name in ("alice", "bob", "carol", "dave", "frank"))
    assert float(rows["alice"]["max_total"]) == 5
    for name in rows:
        report = json.loads((out / name / "results.json").read_text())
        assert report["score"] == float(rows[name]["total"])
