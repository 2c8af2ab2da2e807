"""A broken, slow or hostile submission costs only its own points and never stops the grading."""

from __future__ import annotations

import json
import subprocess
import sys

from grader.framework import REPO
from grader.run import Limits, grade_part
from tests.conftest import make_submission

PART = "part1_toy_superposition"
FAST = "test_generate_batch_values or test_importance_weighted_loss or test_feature_dimensionality"


def grade(tmp_path, code: str, keyword: str = FAST, limits: Limits = Limits()) -> dict[str, dict]:
    folder = make_submission(tmp_path / "sub", PART, code)
    result = grade_part(PART, folder / f"{PART}.py", limits, keyword)
    return {t["name"]: t for t in result.tests}


def test_syntax_error_in_one_cell_costs_only_that_cell(tmp_path):
    folder = make_submission(tmp_path / "sub", PART)
    notebook = folder / f"{PART}.py"
    header = "def generate_batch(batch_size: int, feature_probability: Tensor) -> Tensor:"
    notebook.write_text(notebook.read_text().replace(header, header.rstrip(":")))
    results = {t["name"]: t for t in grade_part(PART, notebook, keyword=FAST).tests}
    failed = results["test_generate_batch_values"]
    assert failed["score"] == 0
    assert "`generate_batch` is not defined" in failed["output"] and "SyntaxError" in failed["output"]
    assert results["test_importance_weighted_loss"]["score"] == 2
    assert results["test_feature_dimensionality"]["score"] == 2


def test_sys_exit_while_loading_is_contained(tmp_path):
    results = grade(tmp_path, "import sys\nsys.exit(3)")
    assert all(r["status"] == "passed" for r in results.values())


def test_hard_exit_inside_a_test_keeps_earlier_points(tmp_path):
    code = "import os\ndef feature_dimensionality(W, eps=1e-8):\n    os._exit(1)"
    results = grade(tmp_path, code)
    assert results["test_generate_batch_values"]["score"] == 1
    assert results["test_importance_weighted_loss"]["score"] == 2
    dead = results["test_feature_dimensionality"]
    assert dead["score"] == 0 and "not graded" in dead["output"]


def test_infinite_loop_is_stopped_by_the_per_test_timeout(tmp_path):
    code = "def importance_weighted_loss(out, x, importance):\n    while True:\n        pass"
    results = grade(tmp_path, code)
    assert results["test_importance_weighted_loss"]["score"] == 0
    assert "Timeout" in results["test_importance_weighted_loss"]["output"]
    assert results["test_generate_batch_values"]["score"] == 1


def test_hang_while_loading_is_stopped_by_the_part_timeout(tmp_path):
    results = grade(tmp_path, "import time\ntime.sleep(3600)", limits=Limits(wall_seconds=30))
    assert all(r["score"] == 0 and "longer than 30 s" in r["output"] for r in results.values())


def test_memory_bomb_is_contained(tmp_path):
    code = "def feature_dimensionality(W, eps=1e-8):\n    return torch.empty(10**11)"
    results = grade(tmp_path, code, limits=Limits(memory_gb=4))
    assert results["test_feature_dimensionality"]["score"] == 0
    assert results["test_generate_batch_values"]["score"] == 1


def test_monkeypatching_torch_is_undone_and_earns_nothing(tmp_path):
    code = (
        "torch.allclose = lambda *a, **k: True\n"
        "def feature_dimensionality(W, eps=1e-8):\n"
        "    torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)\n"
        "    return torch.zeros(W.shape[0], W.shape[2])"
    )
    results = grade(tmp_path, code)
    assert results["test_feature_dimensionality"]["score"] == 0
    assert "modified library code" in results["test_feature_dimensionality"]["output"]
    assert results["test_generate_batch_values"]["score"] == 1  # the patch was undone, not inherited


def test_huge_output_is_capped(tmp_path):
    code = "def importance_weighted_loss(out, x, importance):\n    print('x' * 10**8)\n    raise ValueError('boom')"
    results = grade(tmp_path, code)
    assert results["test_importance_weighted_loss"]["score"] == 0
    assert len(json.dumps(results)) < 50_000


def test_cli_exit_codes_and_json(tmp_path):
    missing = subprocess.run([sys.executable, "-m", "grader", str(tmp_path / "nope")], capture_output=True, text=True, cwd=REPO)
    assert missing.returncode == 2 and "not a folder" in missing.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "results.json"
    run = subprocess.run([sys.executable, "-m", "grader", str(empty), "--part", "1", "--json", str(out)],
                         capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0 and "TOTAL: 0 /" in run.stdout
    report = json.loads(out.read_text())
    assert report["score"] == 0 and report["max_score"] > 0
    assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(report["tests"][0])
    bad_part = subprocess.run([sys.executable, "-m", "grader", str(empty), "--part", "99"], capture_output=True, text=True, cwd=REPO)
    assert bad_part.returncode == 2
