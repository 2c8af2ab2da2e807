"""``make check``, ``make solutions`` and grading, for the baseline commit and this one, each on clean clones.

    python bench/check_breakdown.py [--baseline 3dd95b1] [--ref HEAD] [--only baseline|current] [--from-dir DIR]

Issue 27's targets are ratios against ``BASELINE`` measured on the same machine in the same sitting,
so each commit is measured the same way, one after the other (never at once: two cores):

1. **make solutions from nothing**: a clean clone, a new venv (``make setup``, timed) and an empty
   ``SAECOURSE_CACHE`` (models, activations, trained SAEs and answer keys are all built), then
   ``make solutions`` with each part's time read from its log.
2. **make check, install included**: a second clean clone with its own new venv (``make setup``,
   ``make browser``), then ``make check`` on the cache the first step filled (as a newcomer who ran
   the README's two commands in order), with ``bench/check_timing.py`` loaded into pytest, which logs
   every test phase on its xdist worker.
3. **grading**: in the second clone, ``grader.gradebook`` with two workers on 20 copies of the
   reference's Parts 1-2, and ``python -m grader`` on one reference submission of every part.

The report groups the tests into the stages a reader asks about (build gate, solution grading, stub
grading, wrong answers, hostile submissions, notebooks, release and Gradescope, helper unit tests)
and per test file; pytest runs on two workers, so a stage's *test seconds* are summed over both. Writes
``bench/results/check_breakdown.json`` (both runs and their ratios) and the ``check`` section of
``bench/README.md``; ``--only`` measures one commit and keeps the other's stored run;
``--from-dir`` re-reads an earlier run's work folder.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
BASELINE = "3dd95b1"  # the commit issue 27 measured "today" at; its targets are ratios against it
GRADE_ALL = 20  # submissions of Parts 1-2 graded by grade-all
GRADE_ALL_PARTS = ("part1_toy_superposition", "part2_training_saes")

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
PART_DONE = re.compile(r"^executing (part\w+) at full size .*?\n\s+done in (\d+) s", re.M | re.S)


def stage_of(nodeid: str) -> str:
    return next((stage for stage, prefixes in STAGES if any(nodeid.startswith(p) for p in prefixes)), UNIT)


def timed(command: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None) -> float:
    """Run ``command`` with its output in ``log``; its wall seconds. A failing step ends the benchmark."""
    start = time.perf_counter()
    with log.open("w") as out:
        code = subprocess.run(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}).returncode
    if code:
        raise SystemExit(f"{' '.join(command)} failed in {cwd}: see {log}")
    return time.perf_counter() - start


def clean_clone(ref: str, folder: Path) -> str:
    """Clone the repository at ``ref`` into ``folder``; its short commit."""
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(folder)], check=True)
    subprocess.run(["git", "checkout", "--quiet", ref], cwd=folder, check=True)
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=folder, capture_output=True, text=True).stdout.strip()


def measure_solutions(ref: str, work: Path, cache: Path) -> dict:
    """``make setup`` and ``make solutions`` on a clean clone with an empty cache; seconds, per part too."""
    clone = work / "solutions"
    commit = clean_clone(ref, clone)
    steps = {"setup": timed(["make", "setup"], clone, work / "solutions-setup.log")}
    steps["solutions"] = timed(["make", "solutions"], clone, work / "solutions.log", {"SAECOURSE_CACHE": str(cache)})
    parts = {part: float(s) for part, s in PART_DONE.findall((work / "solutions.log").read_text())}
    return {"commit": commit, "steps": steps, "parts": parts}


def measure_check(ref: str, work: Path, cache: Path) -> dict:
    """``make setup``, ``make browser`` and ``make check`` (timed per test) on a second clean clone."""
    clone, timing = work / "check", work / "timing"
    timing.mkdir()
    clean_clone(ref, clone)
    shutil.copy(Path(__file__).parent / "check_timing.py", clone / "bench")  # the measuring plugin, at any ref
    env = {"SAECOURSE_CACHE": str(cache)}
    steps = {step: timed(["make", step], clone, work / f"{step}.log", env) for step in ("setup", "browser")}
    steps["check"] = timed(["make", "check"], clone, work / "check.log",
                           {**env, "PYTEST_ADDOPTS": "-p bench.check_timing", "CHECK_TIMING_DIR": str(timing)})
    tail = (work / "check.log").read_text().strip().splitlines()[-1]
    return {"steps": steps, "summary": tail.strip("= "), "timing": str(timing), **summarise(*read_timing(timing))}


def measure_grading(work: Path, cache: Path) -> dict:
    """Seconds per submission of grade-all (two workers, Parts 1-2) and of one submission of every part."""
    clone, python, env = work / "check", str(work / "check" / ".venv" / "bin" / "python"), {"SAECOURSE_CACHE": str(cache)}
    submissions = work / "submissions"
    for i in range(GRADE_ALL):
        (submissions / f"s{i:03d}").mkdir(parents=True)
        for part in GRADE_ALL_PARTS:
            shutil.copy(clone / "solutions" / f"{part}.ipynb", submissions / f"s{i:03d}")
    grade_all = timed([python, "-m", "grader.gradebook", str(submissions), "--out", str(work / "grades"), "--jobs", "2"],
                      clone, work / "grade-all.log", env)
    one = timed([python, "-m", "grader", str(clone / "solutions"), "--json", str(work / "one.json")], clone,
                work / "grade-one.log", env)
    return {"grade_all_per_submission": grade_all / GRADE_ALL, "grade_all": grade_all, "one_all_parts": one}


def measure(ref: str, work: Path) -> dict:
    """Every measurement of one commit, in ``work`` (kept: its logs are the evidence)."""
    cache = work / "cache"
    cache.mkdir(parents=True)
    run = measure_solutions(ref, work, cache)
    run["check"] = measure_check(ref, work, cache)
    run["grading"] = measure_grading(work, cache)
    run["work"] = str(work)
    return run


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


MEASURES = [  # (what, target ratio against the baseline, its figure in one commit's run, how it is shown)
    ("make solutions (empty cache, new venv)", 0.7, lambda r: sum(r["steps"].values()), "minutes"),
    ("make check (new venv, cache from make solutions)", 0.5, lambda r: sum(r["check"]["steps"].values()), "minutes"),
    (f"grade-all, {GRADE_ALL} submissions of Parts 1-2, 2 workers (s each)", 0.7,
     lambda r: r["grading"]["grade_all_per_submission"], "seconds"),
    ("one submission of every part (s)", 0.7, lambda r: r["grading"]["one_all_parts"], "seconds"),
]
TARGETS = {what: target for what, target, _, _ in MEASURES}


def totals(run: dict) -> dict[str, float]:
    """The figures the targets are ratios of: each job's whole wall time, install included."""
    return {what: figure(run) for what, _, figure, _ in MEASURES}


def ratios(baseline: dict, current: dict) -> dict[str, float]:
    old, new = totals(baseline), totals(current)
    return {what: new[what] / old[what] for what in old}


def minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60:02d} s"


def markdown(baseline: dict, current: dict) -> str:
    """The README section: both commits, their ratios against the targets, and where the time goes."""
    old, new, ratio = totals(baseline), totals(current), ratios(baseline, current)
    b, c = baseline["commit"], current["commit"]
    lines = [
        "### `make check`, `make solutions` and grading against the baseline (`python bench/check_breakdown.py`)",
        "",
        f"Each commit measured from clean clones, one after the other on one machine ({report.machine()}): "
        "`make solutions` with a new venv and an empty cache, then `make check` on a second clone with its own new "
        "venv and the cache that `make solutions` filled, then grading. Baseline "
        f"`{b}` (issue 27's \"today\"), current `{c}`.",
        "",
        f"| what | `{b}` | `{c}` | ratio | target | |",
        "|---|---|---|---|---|---|",
    ]
    for what, _, _, unit in MEASURES:
        shown = minutes if unit == "minutes" else (lambda s: f"{s:.1f}")
        met = "ok" if ratio[what] <= TARGETS[what] else "**missed**"
        lines.append(f"| {what} | {shown(old[what])} | {shown(new[what])} | {ratio[what]:.2f} | <= {TARGETS[what]} | {met} |")
    lines += ["", "Install and per-part times (seconds):", "", f"| step | `{b}` | `{c}` |", "|---|---|---|"]
    rows = [("make setup (solutions clone)", lambda r: r["steps"]["setup"]), ("make solutions", lambda r: r["steps"]["solutions"])]
    rows += [(f"  {part}", lambda r, p=part: r["parts"].get(p, float("nan"))) for part in sorted({**baseline["parts"], **current["parts"]})]
    rows += [("make setup (check clone)", lambda r: r["check"]["steps"]["setup"]), ("make browser", lambda r: r["check"]["steps"]["browser"]),
             ("make check", lambda r: r["check"]["steps"]["check"]), ("  pytest, first to last test", lambda r: r["check"]["tests_wall"]),
             ("  tests summed over both workers", lambda r: r["check"]["summed"]),
             (f"grade-all, {GRADE_ALL} submissions (whole)", lambda r: r["grading"]["grade_all"])]
    lines += [f"| {name} | {get(baseline):.0f} | {get(current):.0f} |" for name, get in rows]
    lines += ["", f"`make check`: `{b}` {baseline['check']['summary']}; `{c}` {current['check']['summary']}. Stages "
              "(test seconds summed over both workers):", "", f"| stage | `{b}` tests | `{b}` s | `{c}` tests | `{c}` s |",
              "|---|---|---|---|---|"]
    stages = {**baseline["check"]["per_stage"], **current["check"]["per_stage"]}
    for stage in sorted(stages, key=lambda s: -baseline["check"]["per_stage"].get(s, [0])[0]):
        (os_, on), (ns, nn) = (r["check"]["per_stage"].get(stage, [0, 0]) for r in (baseline, current))
        lines.append(f"| {stage} | {on} | {os_:.0f} | {nn} | {ns:.0f} |")
    lines += ["", "| test file | `" + b + "` s | `" + c + "` s |", "|---|---|---|"]
    files = {**baseline["check"]["per_file"], **current["check"]["per_file"]}
    for name in sorted(files, key=lambda f: -current["check"]["per_file"].get(f, [0])[0]):
        lines.append(f"| `{name}` | " + " | ".join(f"{r['check']['per_file'].get(name, [0])[0]:.0f}" for r in (baseline, current)) + " |")
    lines += ["", f"Slowest tests at `{c}` (setup, call and teardown):", "", "| test | seconds |", "|---|---|"]
    lines += [f"| `{nodeid}` | {seconds:.0f} |" for nodeid, seconds in current["check"]["slowest_tests"]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help=f"the commit the targets are ratios against (default {BASELINE})")
    parser.add_argument("--ref", default="HEAD", help="the commit to measure against it (default HEAD)")
    parser.add_argument("--only", choices=("baseline", "current"), help="measure one commit, keep the other's stored run")
    parser.add_argument("--from-dir", type=Path, help="with --only: read that commit's run from this earlier work folder")
    args = parser.parse_args()
    if args.from_dir and not args.only:
        parser.error("--from-dir holds one commit's run: say which with --only")
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    for role, ref in (("baseline", args.baseline), ("current", args.ref)):
        if args.only not in (None, role):
            continue
        if args.from_dir:
            results[role] = json.loads((args.from_dir / "run.json").read_text())
            continue
        work = Path(tempfile.mkdtemp(prefix=f"check_breakdown_{role}_"))
        print(f"{role} ({ref}): clean clones and logs in {work}", flush=True)
        results[role] = measure(ref, work)
        (work / "run.json").write_text(json.dumps(results[role], indent=1))
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1))
    if "baseline" not in results or "current" not in results:
        print("one commit measured; run the other (--only) for the ratios")
        return 0
    results["ratios"] = ratios(results["baseline"], results["current"])
    RESULTS.write_text(json.dumps(results, indent=1))
    text = markdown(results["baseline"], results["current"])
    print(text)
    report.write_section("check", text)
    return 0 if all(results["ratios"][w] <= TARGETS[w] for w in TARGETS) else 1


if __name__ == "__main__":
    sys.exit(main())
