"""A broken, slow or hostile submission costs only its own points and never stops the grading.

Each hostile behaviour replaces one function of an otherwise correct notebook and must cost
exactly the test of that function, with a reason a student can read; untouched functions keep
their points. Theft (the reference, the course files, the judge's frames) must score 0 on top of
an untouched stub.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.framework import REPO
from grader.run import Limits, grade_part
from tests.conftest import make_submission

P1, P2, P3, P4, P5 = ("part1_toy_superposition", "part2_training_saes", "part3_interpreting_features",
                      "part4_validating_features", "part5_comparing_methods")
QUICK = Limits(test_seconds=20, load_seconds=60)


def grade(tmp_path: Path, part: str, code: str, tests: list[str], limits: Limits = QUICK, source: str = "solutions",
          ) -> dict[str, dict]:
    folder = make_submission(tmp_path / "sub", part, code, source)
    result = grade_part(part, folder / f"{part}.py", limits, " or ".join(tests))
    return {t.name: t for t in result.tests}


def lost(results: dict[str, dict], test: str, reason: str) -> None:
    """``test`` scored 0, and its output says ``reason``."""
    record = results[test]
    assert record.score == 0, f"{test} kept its points: {record.output[:300]}"
    assert reason in record.output, f"{test}: expected {reason!r} in the reason, got:\n{record.output[:600]}"


def kept(results: dict[str, dict], *tests: str) -> None:
    for test in tests:
        assert results[test].status == "passed", f"{test} lost its points: {results[test].output[:600]}"


# --------------------------------------------------------------------------------------------------
# Theft: an untouched stub plus one cell that takes the answers scores 0

THEFT = {
    "import_the_grader": (
        "from grader.framework import reference\n"
        "globals().update({k: v for k, v in vars(reference('part1_toy_superposition')).items() if not k.startswith('__')})"
    ),
    "read_course_from_disk": (
        "import pathlib, saecourse, jupytext\n"
        "for root in [pathlib.Path.cwd(), *pathlib.Path.cwd().parents, *pathlib.Path(saecourse.__file__).parents]:\n"
        "    for name in ('course', 'solutions'):\n"
        "        src = root / name / 'part1_toy_superposition.py'\n"
        "        if src.exists():\n"
        "            for cell in jupytext.read(src).cells:\n"
        "                if cell.cell_type == 'code' and 'check(' not in cell.source:\n"
        "                    try:\n"
        "                        exec(cell.source, globals())\n"
        "                    except Exception:\n"
        "                        pass\n"
    ),
    "walk_frames_and_gc": (
        "import gc, sys, torch\n"
        "def _steal(like):\n"
        "    frame = sys._getframe(2)\n"
        "    while frame is not None:\n"
        "        for value in frame.f_locals.values():\n"
        "            if isinstance(value, torch.Tensor) and value.shape == like.shape and value is not like:\n"
        "                return value\n"
        "        frame = frame.f_back\n"
        "    for obj in gc.get_objects():\n"
        "        if isinstance(obj, torch.Tensor) and obj.shape == like.shape and obj is not like:\n"
        "            return obj\n"
        "    return like\n"
        "def importance_weighted_loss(out, x, importance):\n"
        "    return _steal(importance)\n"
        "def feature_dimensionality(W, eps=1e-8):\n"
        "    return _steal(W[:, 0, :])\n"
    ),
}
THEFT_TESTS = ["test_generate_batch_values", "test_generate_batch_statistics", "test_toy_model_forward",
               "test_importance_weighted_loss", "test_feature_dimensionality"]


@pytest.mark.parametrize("route", THEFT)
def test_stolen_answers_score_zero(tmp_path, route):
    results = grade(tmp_path, P1, THEFT[route], THEFT_TESTS, source="student")
    scored = {name: r.score for name, r in results.items() if r.score}
    assert set(results) == set(THEFT_TESTS) and not scored, f"theft by {route} earned points: {scored}"


@pytest.mark.parametrize("part,tests", [
    (P2, ["test_sae_forward", "test_sae_loss", "test_l0_norm"]),
    (P3, ["test_top_activations", "test_example_window", "test_explain_tokens", "test_score_explanation"]),
    (P4, ["test_monosemanticity", "test_steering_hook", "test_clamp_latent", "test_feature_attribution"]),
    (P5, ["test_mean_difference", "test_train_probe", "test_span_fractions", "test_compare_steering"]),
])
def test_stolen_answers_of_later_parts_score_zero(tmp_path, part, tests):
    code = THEFT["read_course_from_disk"].replace("part1_toy_superposition", part)
    results = grade(tmp_path, part, code, tests, source="student")
    assert set(tests) <= set(results) and not any(r.score for r in results.values()), results


def test_helper_that_reveals_part3_is_hidden_while_grading_it(tmp_path):
    """saecourse.interpret holds Part 3's explainer, simulator and score (for Parts 4-7): grading Part
    3, importing it fails and the stubs stay stubs."""
    code = (
        "try:\n"
        "    from saecourse.interpret import explain_tokens, simulate, score_explanation\n"
        "except ImportError:\n"
        "    pass\n"
    )
    tests = ["test_explain_tokens", "test_lookup_and_simulate", "test_score_explanation"]
    results = grade(tmp_path, P3, code, tests, source="student")
    assert set(tests) <= set(results) and not any(r.score for r in results.values()), results


def test_helper_that_reveals_part2_is_hidden_while_grading_it(tmp_path):
    """saecourse.training holds Part 2's answers (exported from its notebook, for Parts 3-7): grading Part 2,
    it is an empty file, source and compiled copy alike, and so is saecourse.saes, which imports it."""
    import saecourse.saes  # noqa: F401 - leaves compiled copies in __pycache__, which must be hidden too

    code = (
        "import importlib.util, marshal, pathlib, saecourse\n"
        "folder = pathlib.Path(saecourse.__file__).parent\n"
        "copies = [p.read_bytes() for name in ('training', 'saes')\n"
        "          for p in [folder / f'{name}.py', *(folder / '__pycache__').glob(f'{name}.*.pyc')]]\n"
        "if any(copies):\n"
        "    from saecourse.training import SAE as _Revealed\n"
        "    class SAE(nn.Module):  # the student's own __init__, the revealed forward pass\n"
        "        def __init__(self, d_in, d_sae, init_norm=0.1):\n"
        "            super().__init__()\n"
        "            W = init_norm * F.normalize(torch.randn(d_sae, d_in), dim=-1)\n"
        "            self.W_dec, self.W_enc = nn.Parameter(W), nn.Parameter(W.T.clone())\n"
        "            self.b_enc, self.b_dec = nn.Parameter(torch.zeros(d_sae)), nn.Parameter(torch.zeros(d_in))\n"
        "        encode, decode, forward = _Revealed.encode, _Revealed.decode, _Revealed.forward\n"
    )
    results = grade(tmp_path, P2, code, ["test_sae_forward"], source="student")
    assert results["test_sae_forward"].score == 0, results["test_sae_forward"].output[:600]


def test_submission_cannot_see_the_judges_files(tmp_path):
    code = (
        "import os, pathlib\n"
        "def generate_batch(batch_size, feature_probability):\n"
        "    for path in " + repr([str(REPO / d) for d in ("course/part1_toy_superposition.py", "solutions", "grader",
                                                          "tests", "README.md")]) + ":\n"
        "        if os.path.exists(path):\n"
        "            raise RuntimeError('visible: ' + path)\n"
        "    if any('answer_keys' in str(p) for p in pathlib.Path(os.environ['SAECOURSE_CACHE']).glob('*')):\n"
        "        raise RuntimeError('answer key visible')\n"
        "    if len(os.listdir('/proc')) and any(p.isdigit() and p != '1' for p in os.listdir('/proc')):\n"
        "        raise RuntimeError('other processes visible')\n"
        "    raise ValueError('nothing to see')\n"
    )
    results = grade(tmp_path, P1, code, ["test_generate_batch_values"])
    lost(results, "test_generate_batch_values", "ValueError: nothing to see")


# --------------------------------------------------------------------------------------------------
# Hostile functions: each costs its own test only

HOSTILE_P1 = '''
import os, sys, torch
def importance_weighted_loss(out, x, importance):  # correct, but leaves a process behind
    if os.fork() == 0:
        os.execv("/bin/sleep", ["sleep", "4242"])
    return (importance * (x - out) ** 2).mean((0, 2))
def feature_dimensionality(W, eps=1e-8):
    raise KeyboardInterrupt
def neighbour_gaps(W_instance, min_norm=0.5):
    raise SystemExit(3)
def pair_errors(model, instance):
    return pair_errors(model, instance)
class SeedToyModel(SeedToyModel):
    def forward(self, x):
        open("''' + str(REPO / "course" / "pwned.txt") + '''", "w").write("x")
        return super().forward(x)
class ToySAE(ToySAE):
    def loss(self, h, l1_coeff):
        return torch.full((h.shape[1],), float("nan"))
def resample_dead_latents(sae, h, dead):
    return open("''' + str(REPO / "solutions" / "part1_toy_superposition.py") + '''").read()
'''
REASONS_P1 = {
    "test_importance_weighted_loss": "process(es) running",
    "test_feature_dimensionality": "raised KeyboardInterrupt",
    "test_neighbour_gaps": "raised SystemExit",
    "test_pair_errors": "RecursionError",
    "test_seed_toy_model_forward": "Read-only file system",
    "test_toy_sae_loss": "nan",
    "test_resample_dead_latents": "No such file or directory",
}


def test_hostile_functions_cost_only_their_own_tests(tmp_path):
    results = grade(tmp_path, P1, HOSTILE_P1, [*REASONS_P1, "test_generate_batch_values", "test_toy_model_forward",
                                              "test_toy_sae_forward"])
    for test, reason in REASONS_P1.items():
        lost(results, test, reason)
    kept(results, "test_generate_batch_values", "test_toy_model_forward", "test_toy_sae_forward")
    assert not (REPO / "course" / "pwned.txt").exists()
    leftovers = [p for p in os.listdir("/proc") if p.isdigit() and b"4242" in _cmdline(p)]
    assert not leftovers, "the forked child outlived the grading"


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


HOSTILE_P2 = '''
import os, torch
torch.allclose = lambda *a, **k: True  # patches the submission's own torch only
torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)
class Liar(torch.Tensor):
    def __eq__(self, other):
        return True
def median_norm_by_position(acts, context_pos, ctx_len):
    return torch.empty(10**11)
def sae_loss(x, x_hat, z, decoder_norms, l1_coeff):
    print("x" * 10**8)
    raise ValueError("boom")
def l0_norm(z):
    return torch.zeros((), dtype=torch.int64)
def feature_density(z):
    return torch.zeros(z.shape[1], device="meta")
def explained_variance(x, x_hat):
    return torch.tensor(0.123).as_subclass(Liar)
def l1_coefficient(step, total_steps, l1_coeff, warmup_frac=0.05):
    os._exit(1)
'''
REASONS_P2 = {
    "test_massive_activations": "allocate",
    "test_sae_loss": "boom",
    "test_l0_norm": "7/3",
    "test_feature_density": "device 'meta'",
    "test_explained_variance": "EV = 0.5",
    "test_schedules": "died",
}


def test_hostile_values_cost_only_their_own_tests(tmp_path):
    limits = Limits(test_seconds=60, load_seconds=120, memory_gb=4)
    results = grade(tmp_path, P2, HOSTILE_P2, [*REASONS_P2, "test_sae_forward", "test_sae_init"], limits)
    for test, reason in REASONS_P2.items():
        lost(results, test, reason)
    kept(results, "test_sae_forward", "test_sae_init")  # after the process died and was restarted
    assert len(json.dumps({name: r.to_json() for name, r in results.items()})) < 50_000, "the output flood was not capped"


# --------------------------------------------------------------------------------------------------
# Broken notebooks

def test_syntax_error_in_one_cell_costs_only_that_cell(tmp_path):
    folder = make_submission(tmp_path / "sub", P1)
    notebook = folder / f"{P1}.py"
    header = "def generate_batch(batch_size: int, feature_probability: Tensor) -> Tensor:"
    notebook.write_text(notebook.read_text().replace(header, header.rstrip(":")))
    keyword = "test_generate_batch_values or test_importance_weighted_loss"
    results = {t.name: t for t in grade_part(P1, notebook, QUICK, keyword).tests}
    lost(results, "test_generate_batch_values", "`generate_batch` is not defined")
    assert "SyntaxError" in results["test_generate_batch_values"].output
    kept(results, "test_importance_weighted_loss")


def test_sys_exit_while_loading_is_contained(tmp_path):
    results = grade(tmp_path, P1, "import sys\nsys.exit(3)", ["test_generate_batch_values", "test_toy_model_forward"])
    kept(results, "test_generate_batch_values", "test_toy_model_forward")


def test_infinite_loop_is_stopped_at_the_tests_time_limit(tmp_path):
    code = "def importance_weighted_loss(out, x, importance):\n    while True:\n        pass"
    results = grade(tmp_path, P1, code, ["test_importance_weighted_loss", "test_generate_batch_values"],
                    Limits(test_seconds=5, load_seconds=60))
    lost(results, "test_importance_weighted_loss", "did not finish within the test's time limit")
    kept(results, "test_generate_batch_values")


def test_hang_while_loading_is_stopped(tmp_path):
    results = grade(tmp_path, P1, "import time\ntime.sleep(3600)", ["test_generate_batch_values", "test_toy_model_forward"],
                    Limits(test_seconds=10, load_seconds=10))
    for test in results:
        lost(results, test, "took longer than 10 s")


def test_notebook_that_is_not_json(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / f"{P1}.ipynb").write_text('{"cells": [ this is not json')
    results = {t.name: t for t in grade_part(P1, folder / f"{P1}.ipynb", QUICK, "test_generate_batch_values").tests}
    lost(results, "test_generate_batch_values", "could not be read")


def test_folder_with_both_files_disagreeing_grades_the_edited_one(tmp_path):
    from grader.run import find_submission_file

    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / f"{P1}.py").write_text((REPO / "student" / f"{P1}.py").read_text())
    (folder / f"{P1}.ipynb").write_text((REPO / "solutions" / f"{P1}.ipynb").read_text())
    assert find_submission_file(folder, P1).suffix == ".ipynb"


def test_missing_part_and_cli_exit_codes(tmp_path):
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
    assert "no part1_toy_superposition.py or part1_toy_superposition.ipynb" in report["tests"][0]["output"]
    assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(report["tests"][0])
    assert report["extra_data"]["sandbox"] == "bubblewrap" and len(report["extra_data"]["course_hash"]) == 16
    bad_part = subprocess.run([sys.executable, "-m", "grader", str(empty), "--part", "99"], capture_output=True, text=True, cwd=REPO)
    assert bad_part.returncode == 2


def test_refuses_to_grade_without_a_sandbox_unless_told(tmp_path):
    folder = make_submission(tmp_path / "sub", P1)
    env = {**os.environ, "GRADER_BWRAP": str(tmp_path / "no-bwrap-here")}
    cli = [sys.executable, "-m", "grader", str(folder), "--part", "1", "-k", "test_generate_batch_values"]
    refused = subprocess.run(cli, capture_output=True, text=True, cwd=REPO, env=env)
    assert refused.returncode == 2 and "bubblewrap" in refused.stderr and "--unsafe-no-sandbox" in refused.stderr
    out = tmp_path / "results.json"
    unsafe = subprocess.run([*cli, "--unsafe-no-sandbox", "--json", str(out)], capture_output=True, text=True, cwd=REPO, env=env)
    assert unsafe.returncode == 0 and "TOTAL: 1 / 1" in unsafe.stdout and "WARNING" in unsafe.stdout
    assert json.loads(out.read_text())["extra_data"]["sandbox"] == "none (--unsafe-no-sandbox)"


# --------------------------------------------------------------------------------------------------
# Bounds (grader.limits): each hostile function still returns the right answer, but goes past one
# bound; it loses its test with the bound's tag, the others keep theirs, nothing is left behind.
# The bounds are small here so that the machine running the suite never feels them.

SMALL = Limits(test_seconds=20, load_seconds=60, memory_gb=1.5, disk_mb=32, files=400, processes=64, reply_mb=8,
               cleanup_seconds=3)
BOUNDED_P1 = '''
import os, threading, time, torch
_fd, _gaps, _loss, _resample, _batch = feature_dimensionality, neighbour_gaps, importance_weighted_loss, resample_dead_latents, generate_batch
def feature_dimensionality(W, eps=1e-8):  # 12 files of 8 MiB: 96 MiB into a 32 MiB folder
    for i in range(12):
        try:
            with open(f"big{i}", "wb") as f:
                f.write(b"x" * 8 * 2**20)
        except OSError:
            pass
    return _fd(W, eps)
def neighbour_gaps(W_instance, min_norm=0.5):  # 120 sleeping processes, 64 allowed
    for _ in range(120):
        try:
            if os.fork() == 0:
                time.sleep(4243)
                os._exit(0)
        except OSError:
            break
    return _gaps(W_instance, min_norm)
def pair_errors(model, instance):  # a 20 MiB reply, 8 MiB read
    return torch.zeros(5 * 2**20)
def importance_weighted_loss(out, x, importance):  # spinning threads outlive the call
    def spin():
        while True:
            pass
    for _ in range(4):
        threading.Thread(target=spin, daemon=True).start()
    return _loss(out, x, importance)
def resample_dead_latents(sae, h, dead):  # 1000 empty files, 400 allowed
    os.makedirs("many", exist_ok=True)
    for i in range(1000):
        try:
            open(f"many/{i}", "w").close()
        except OSError:
            break
    return _resample(sae, h, dead)
class SeedToyModel(SeedToyModel):  # its clean-up never ends
    def __del__(self):
        time.sleep(4244)
def generate_batch(batch_size, feature_probability):
    if batch_size == 200_000:  # the statistics test: a child keeps the reply pipe open, the process exits
        if os.fork() == 0:
            time.sleep(4245)
        os._exit(0)
    return _batch(batch_size, feature_probability)
class ToySAE(ToySAE):  # many small allocations in threads, until the memory bound
    def forward(self, h):
        hoard = []
        def grab():
            while True:
                hoard.append(bytearray(2**16))
        threads = [threading.Thread(target=grab) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return super().forward(h)
'''
REASONS_BOUNDED = {
    "test_feature_dimensionality": "[limit: disk]",
    "test_neighbour_gaps": "[limit: processes]",
    "test_pair_errors": "[limit: reply size]",
    "test_importance_weighted_loss": "[limit: threads]",
    "test_resample_dead_latents": "[limit: files]",
    "test_seed_toy_model_forward": "[limit: cleanup]",
    "test_generate_batch_statistics": "died",
    "test_toy_sae_forward": "[limit: memory]",
}


def _leftovers() -> list[str]:
    """Processes of the hostile submissions (their sleeps carry a marker) and cgroups of judges that
    have ended (grader-<judge pid>-<n>; other graders' live judges may have theirs)."""
    from grader.limits import ROOT, _own

    found = [p for p in os.listdir("/proc") if p.isdigit() and any(m in _cmdline(p) for m in (b"4243", b"4244", b"4245"))]
    groups = [g for c in ("pids", "memory", "") for g in (ROOT / c / _own(c)).glob("grader-*-*")]
    return found + [str(g) for g in groups if not Path(f"/proc/{g.name.split('-')[1]}").exists()]


def _private_tmp(tmp_path: Path, monkeypatch) -> Path:
    """A temporary folder of this test's own for the grading's files, to see that none are left."""
    import tempfile

    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _grading_files(folder: Path) -> list[Path]:
    """What grading leaves in ``folder`` (the judge server's socket folder lives as long as the tests)."""
    return [p for p in folder.iterdir() if p.name.startswith(("grade_", "submission_", "check_"))]


def test_each_bound_costs_only_its_own_test(tmp_path, monkeypatch):
    tmp = _private_tmp(tmp_path, monkeypatch)
    results = grade(tmp_path, P1, BOUNDED_P1, [*REASONS_BOUNDED, "test_generate_batch_values", "test_toy_model_forward"],
                    SMALL)
    for test, reason in REASONS_BOUNDED.items():
        lost(results, test, reason)
    kept(results, "test_generate_batch_values", "test_toy_model_forward")
    assert results["test_feature_dimensionality"].limits == ["disk"]
    assert not _leftovers(), _leftovers()
    assert not _grading_files(tmp), f"left on disk: {_grading_files(tmp)}"


def test_part_time_budget_fails_the_tests_it_leaves_no_time_for(tmp_path):
    code = "def importance_weighted_loss(out, x, importance):\n    while True:\n        pass"
    tests = ["test_generate_batch_values", "test_importance_weighted_loss", "test_feature_dimensionality"]
    results = grade(tmp_path, P1, code, tests, Limits(test_seconds=60, load_seconds=60, part_seconds=20))
    kept(results, "test_generate_batch_values")
    lost(results, "test_importance_weighted_loss", "this part's time budget of 20 s and was stopped [limit: part time]")
    lost(results, "test_feature_dimensionality", "not run: the tests before it used up this part's time budget")


def test_bounds_without_root_fall_back_to_rlimits_and_measuring(tmp_path, monkeypatch):
    """GRADER_RLIMITS_ONLY=1: what an ordinary user gets (no cgroup, no tmpfs): the judge measures
    the scratch folder while it waits, and left-over threads are caught the same way."""
    monkeypatch.setenv("GRADER_RLIMITS_ONLY", "1")
    tmp = _private_tmp(tmp_path, monkeypatch)
    code = BOUNDED_P1.split("def neighbour_gaps")[0].replace("    return _fd(W, eps)", "    time.sleep(1.5)\n    return _fd(W, eps)")
    code += BOUNDED_P1[BOUNDED_P1.index("def importance_weighted_loss"):BOUNDED_P1.index("def resample_dead_latents")]
    tests = ["test_feature_dimensionality", "test_importance_weighted_loss", "test_toy_model_forward"]
    results = grade(tmp_path, P1, code, tests, SMALL)
    lost(results, "test_feature_dimensionality", "[limit: disk]")
    lost(results, "test_importance_weighted_loss", "[limit: threads]")
    kept(results, "test_toy_model_forward")
    assert not _grading_files(tmp), f"left on disk: {_grading_files(tmp)}"


def test_reply_over_the_bound_is_refused_before_it_is_read():
    """The judge's memory is bounded whatever the submission sends: the length prefix is checked
    before anything else is read (the pipe holds nothing more: reading would time out), and the
    part of a reply that becomes Python objects has its own, smaller bound."""
    import struct
    import time

    from gradebox import wire

    r, w = os.pipe()
    try:
        os.write(w, struct.pack("<Q", 2**40))
        with pytest.raises(wire.TooLarge, match="exceeds the limit"):
            wire.receive(r, time.monotonic() + 5, limit=256 * 2**20)
    finally:
        os.close(r), os.close(w)
    with pytest.raises(wire.TooLarge, match="non-tensor part"):
        wire.decode(wire.encode(list(range(2000))), json_limit=1000)
    tensor = wire.decode(bytearray(wire.encode({"t": __import__("torch").arange(6.0)})))["t"]
    assert tensor.tolist() == [0, 1, 2, 3, 4, 5]


def test_restart_waits_until_the_last_processes_are_released():
    """A restart begins only when the killed process's tasks are gone: the definitions here fill the
    process bound with sleepers, and a restart that began while the kernel still counted them could
    not even start the sandbox (bwrap's clone fails with EAGAIN, seen in CI)."""
    from grader.remote import Box

    cells = ["import os, time\nfor _ in range(58):\n    if os.fork() == 0:\n        time.sleep(4246)\n        os._exit(0)"]
    box = Box(cells, SMALL)
    try:
        for _ in range(3):
            box.start()
            assert box.broken is None and box.load_errors == [], (box.broken, box.load_errors)
            box.kill()
            assert box.cgroup is None or box.cgroup.tasks() == 0, f"{box.cgroup.tasks()} tasks still counted"
    finally:
        box.close()
    assert not [p for p in os.listdir("/proc") if p.isdigit() and b"4246" in _cmdline(p)]
