"""Where ``make check`` spends its time, from one run on a clean clone.

    python bench/check_breakdown.py [--ref HEAD] [--from-dir DIR]

Clones the repository at ``--ref`` into a temporary folder and runs there what CI runs, timing
each step: ``make setup`` (a new venv and every pip install), ``make browser`` (Chromium) and
``make check`` with ``bench/check_timing.py`` loaded into pytest (``PYTEST_ADDOPTS``), which logs
when every test phase and fixture ran on which xdist worker. The cache (``SAECOURSE_CACHE``,
models, activations, trained SAEs, the answer key) is the user's, as it is for CI on this machine.

The report groups the tests into the stages a reader asks about (install, build gate, solution
grading, stub grading, wrong answers, hostile submissions, notebooks, release and Gradescope,
helper unit tests) and per test file. pytest runs on two workers, so a stage's *test seconds* are
summed over both and its *share of the wall* is its part of the summed seconds applied to pytest's
wall time. Writes ``bench/results/check_breakdown.json`` and the ``check`` section of
``bench/README.md``; ``--from-dir`` re-renders them from an earlier run's timing folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import report  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "check_breakdown.json"

# (stage, test files or node-id prefixes); the first match wins, the rest are helper unit tests.
STAGES = [
    ("solution grading", ["tests/test_gates.py::test_solutions_pass_every_grader_test"]),
    ("stub grading", ["tests/test_gates.py::test_untouched_student_stubs_score_zero"]),
    ("build gate", ["tests/test_gates.py"]),
    ("wrong answers", ["tests/test_wrong_answers.py"]),
    ("hostile submissions", ["tests/test_hostile.py", "tests/test_trusted_grading.py"]),
    ("notebooks (nbgrader round trip, smoke run)", ["tests/test_nbgrader.py", "tests/test_notebooks.py"]),
    ("release and Gradescope", ["tests/test_release.py", "tests/test_gradescope.py", "tests/test_gradebook.py"]),
]
UNIT = "helper unit tests"


def stage_of(nodeid: str) -> str:
    return next((stage for stage, prefixes in STAGES if any(nodeid.startswith(p) for p in prefixes)), UNIT)


def timed(command: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None) -> tuple[float, int]:
    """Run ``command`` with its output in ``log``; (wall seconds, exit code)."""
    start = time.perf_counter()
    with log.open("w") as out:
        code = subprocess.run(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}).returncode
    return time.perf_counter() - start, code


def run_clean_clone(ref: str, work: Path) -> dict:
    """Clone at ``ref``, then time install, browser and check; returns the step times and the timing folder."""
    clone, timing = work / "clone", work / "timing"
    timing.mkdir()
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(clone)], check=True)
    subprocess.run(["git", "checkout", "--quiet", ref], cwd=clone, check=True)
    shutil.copy(Path(__file__).parent / "check_timing.py", clone / "bench")  # the measuring plugin, at any ref
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True).stdout.strip()
    steps = {}
    for step in ("setup", "browser"):
        steps[step], code = timed(["make", step], clone, work / f"{step}.log")
        if code:
            raise SystemExit(f"make {step} failed: see {work / f'{step}.log'}")
    env = {"PYTEST_ADDOPTS": "-p bench.check_timing", "CHECK_TIMING_DIR": str(timing)}
    steps["check"], code = timed(["make", "check"], clone, work / "check.log", env)
    tail = (work / "check.log").read_text().strip().splitlines()[-1]
    return {"commit": commit, "steps": steps, "exit_code": code, "summary": tail, "timing": str(timing)}


def read_timing(folder: Path) -> tuple[list[dict], list[dict]]:
    """(test phases, fixtures) of the suite's own tests (not of the graders' pytest runs inside them)."""
    records = [json.loads(line) for path in sorted(folder.glob("*.jsonl")) for line in path.read_text().splitlines()]
    ours = [r for r in records if r["nodeid"].startswith("tests/") or (r["kind"] == "fixture" and not r["nodeid"])]
    return [r for r in ours if r["kind"] == "phase"], [r for r in ours if r["kind"] == "fixture"]


def summarise(phases: list[dict], fixtures: list[dict]) -> dict:
    """Seconds per test, per file and per stage; the pytest wall time and each worker's idle time."""
    per_test: dict[str, float] = defaultdict(float)
    for p in phases:
        per_test[p["nodeid"]] += p["stop"] - p["start"]
    start, stop = min(p["start"] for p in phases), max(p["stop"] for p in phases)
    busy: dict[str, float] = defaultdict(float)
    for p in phases:
        busy[p["worker"]] += p["stop"] - p["start"]
    per_file, per_stage = defaultdict(lambda: [0.0, 0]), defaultdict(lambda: [0.0, 0])
    for nodeid, seconds in per_test.items():
        for table, key in ((per_file, nodeid.split("::")[0]), (per_stage, stage_of(nodeid))):
            table[key][0] += seconds
            table[key][1] += 1
    slow_fixtures = sorted(({"name": f["name"], "scope": f["scope"], "seconds": f["stop"] - f["start"], "test": f["nodeid"]}
                            for f in fixtures if f["stop"] - f["start"] > 5), key=lambda f: -f["seconds"])
    return {"tests_wall": stop - start, "summed": sum(per_test.values()),
            "idle": {w: (stop - start) - b for w, b in sorted(busy.items())},
            "per_stage": dict(per_stage), "per_file": dict(per_file),
            "slowest_tests": sorted(per_test.items(), key=lambda t: -t[1])[:15], "slow_fixtures": slow_fixtures}


def minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60:02d} s"


def markdown(run: dict, summary: dict, before: dict | None = None) -> str:
    """The README section; ``before``, an earlier run's results, adds a per-stage comparison."""
    steps, wall, summed = run["steps"], summary["tests_wall"], summary["summed"]
    total = sum(steps.values())
    lines = [
        "### Where `make check` spends its time (`python bench/check_breakdown.py`)",
        "",
        f"One run of `make check` on a clean clone at `{run['commit']}` ({run['summary'].strip('= ')}), the steps "
        "timed from outside and every test phase logged by `bench/check_timing.py`. Machine: "
        f"{report.machine()}.",
        "",
        f"Whole run **{minutes(total)}**: `make setup` (new venv, pip) {steps['setup']:.0f} s, `make browser` "
        f"{steps['browser']:.0f} s, `make check` {minutes(steps['check'])}, of which pytest's first to last test "
        f"{minutes(wall)} (the rest is pytest starting and collecting on both workers). Tests ran for "
        f"{summed:.0f} s summed over the two workers; idle at the end: "
        + ", ".join(f"{w} {s:.0f} s" for w, s in summary["idle"].items()) + ".",
        "",
        "| stage | tests | test seconds (both workers) | share of the wall |",
        "|---|---|---|---|",
        f"| install (`make setup`, `make browser`) | | {steps['setup'] + steps['browser']:.0f} | {minutes(steps['setup'] + steps['browser'])} |",
    ]
    for stage, (seconds, count) in sorted(summary["per_stage"].items(), key=lambda s: -s[1][0]):
        lines.append(f"| {stage} | {count} | {seconds:.0f} | {minutes(seconds / summed * wall)} |")
    lines += ["", "| test file | tests | test seconds |", "|---|---|---|"]
    for name, (seconds, count) in sorted(summary["per_file"].items(), key=lambda f: -f[1][0]):
        lines.append(f"| `{name}` | {count} | {seconds:.0f} |")
    if before:
        lines += ["", f"Against the run at `{before['commit']}`, before this benchmark's changes (test seconds summed over both "
                  "workers). Answer keys are cached per course version: a run after a change to `course/`, `grader/` or "
                  "`gradebox/` builds them, which the first release test pays (about 2 minutes).", "",
                  "| stage | before | after |", "|---|---|---|"]
        stages = {**before["per_stage"], **summary["per_stage"]}
        for stage in sorted(stages, key=lambda s: -before["per_stage"].get(s, [0])[0]):
            old, new = before["per_stage"].get(stage, [0])[0], summary["per_stage"].get(stage, [0])[0]
            lines.append(f"| {stage} | {old:.0f} | {new:.0f} |")
        lines += [f"| pytest, first to last test (wall) | {minutes(before['tests_wall'])} | {minutes(wall)} |",
                  f"| whole run with install (wall) | {minutes(sum(before['steps'].values()))} | {minutes(total)} |"]
    lines += ["", "Slowest tests (setup, call and teardown):", "", "| test | seconds |", "|---|---|"]
    lines += [f"| `{nodeid}` | {seconds:.0f} |" for nodeid, seconds in summary["slowest_tests"]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="HEAD", help="the commit to measure (default HEAD)")
    parser.add_argument("--from-dir", type=Path, help="re-render from this earlier run's work folder")
    parser.add_argument("--section", default="check",
                        help="where the results go: check (bench/README.md too) or another key of the results file, "
                             "e.g. check-before for an earlier commit's run")
    args = parser.parse_args()
    if args.from_dir:
        run = json.loads((args.from_dir / "run.json").read_text())
    else:
        work = Path(tempfile.mkdtemp(prefix="check_breakdown_"))
        print(f"clean clone and logs in {work}", flush=True)
        run = run_clean_clone(args.ref, work)
        (work / "run.json").write_text(json.dumps(run, indent=1))
    summary = summarise(*read_timing(Path(run["timing"])))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results[args.section] = {**run, **summary}
    RESULTS.write_text(json.dumps(results, indent=1))
    text = markdown(run, summary, results.get("check-before") if args.section == "check" else None)
    print(text)
    if args.section == "check":  # other sections (an earlier commit's run) only go to the results file
        report.write_section(args.section, text)
    return run["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
