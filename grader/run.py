"""Grade a submission folder: one isolated subprocess per part, results merged per test.

A submission that hangs, crashes, exits, allocates without bound or prints without end loses
only its own points: each part runs in its own process group with a wall-clock limit, the
submission's process within the bounds of ``grader.limits``, and tests that never reported are
recorded as failed with the reason.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from grader import answers, forkserver, sandbox
from grader import limits as bounds
from grader.limits import Limits
from grader.framework import PART_FILE, REPO, parts, graded_tests
from grader.runner import TestResult
from grader.warm import Address

LOG_TAIL = 1500  # characters of a dead worker's output quoted in the results


class SandboxUnavailable(RuntimeError):
    """Confinement is not possible here and the instructor did not pass --unsafe-no-sandbox."""


def sandbox_label(limits: Limits) -> str:
    return "bubblewrap" if limits.confined else "none (--unsafe-no-sandbox)"


@dataclass
class PartResult:
    part: str
    file: Path | None
    tests: list[TestResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return sum(t.score for t in self.tests)

    @property
    def max_score(self) -> float:
        return sum(t.max_score for t in self.tests)


def find_submission_file(folder: Path, part: str) -> Path | None:
    """The submission's file for ``part``: ``.py`` if it has the same cells as the ``.ipynb``.

    When both exist and differ (a student edited one without Jupytext pairing), the one that
    differs from the untouched student stub is taken; if both do, the newer one.
    """
    candidates = {p.suffix: p for p in folder.glob(f"{part}.*") if PART_FILE.match(p.name)}
    if len(candidates) < 2:
        return next(iter(candidates.values()), None)
    from saecourse.cells import definition_sources, read_cells

    py, ipynb = candidates[".py"], candidates[".ipynb"]
    code = {p: definition_sources(read_cells(p)) for p in (py, ipynb)}
    if code[py] == code[ipynb]:
        return py
    stub = REPO / "student" / f"{part}.py"
    pristine = definition_sources(read_cells(stub)) if stub.exists() else None
    edited = [p for p in (py, ipynb) if code[p] != pristine]
    if len(edited) == 1:
        return edited[0]
    return max((py, ipynb), key=lambda p: p.stat().st_mtime)


def matches(name: str, keyword: str | None) -> bool:
    """Whether a test called ``name`` is selected by a pytest ``-k`` expression (substring match)."""
    if not keyword:
        return True
    from _pytest.mark.expression import Expression

    return Expression.compile(keyword).evaluate(lambda word, **_: word.lower() in name.lower())


def grade_part(part: str, file: Path | None, limits: Limits = Limits(), keyword: str | None = None,
               warm: Address | None = None) -> PartResult:
    """Run the part's graded tests on ``file`` in a fresh subprocess and collect one record per test.
    ``warm``: the submission's process is forked by that ``grader.warm.WarmServer`` (the repository's
    own fixtures only: they share its sandbox)."""
    expected = [t for t in graded_tests(part) if matches(t.name, keyword)]
    result = PartResult(part, file)
    if file is None:
        result.tests = [TestResult.not_graded(t, f"no {part}.py or {part}.ipynb in the submission") for t in expected]
        return result
    if limits.confined and (reason := sandbox.unavailable_reason()):
        raise SandboxUnavailable(reason)
    answers.build(part)  # the reference's answers, computed here once per course version
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="grade_") as tmp:
        results, log = Path(tmp) / "results.jsonl", Path(tmp) / "log.txt"
        # TMPDIR: the submission's scratch folder and log are made in here, so they go with it even
        # when the judge is killed.
        env = {**os.environ, "TMPDIR": tmp, "MPLBACKEND": "Agg", "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        cmd = [sys.executable, "-m", "grader.worker", "--part", part, "--submission", str(file.resolve()),
               "--results", str(results), "--limits", limits.to_json()]
        cmd += ["-k", keyword] if keyword else []
        cmd += ["--warm", warm.to_text()] if warm else []
        log.touch()
        death = forkserver.judge(cmd[3:], tmp, log, env, limits.wall_seconds) if forkserver.enabled() else None
        if death is None:  # no judge server here: a new interpreter
            death = _judge_subprocess(cmd, tmp, log, env, limits.wall_seconds)
        lines = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
        tail = log.read_text(errors="replace")[-LOG_TAIL:]
    reported = {r["name"]: TestResult.from_json(r) for r in lines if "name" in r}
    collected = next((set(r["collected"]) for r in lines if "collected" in r), None)
    selected = [t for t in expected if collected is None or t.name in collected]
    why = f"not graded: {death} before this test finished. Last output:\n{tail}"
    if "longer than" in death:
        why = f"{why.rstrip()}\n{bounds.tag('part time')}"
    result.tests = [reported.get(t.name) or TestResult.not_graded(t, why) for t in selected]
    result.seconds = time.perf_counter() - start
    return result


def _judge_subprocess(cmd: list[str], cwd: str, log: Path, env: dict[str, str], timeout: float) -> str:
    """Run the judge ``cmd`` as a new process (its own session); return why it ended."""
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd,
                                env=env, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
            return f"the grading process ended with exit code {proc.returncode}"
        except subprocess.TimeoutExpired:
            return f"the part took longer than {timeout:.0f} s and was stopped"
        finally:
            _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the worker and anything it started (its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def grade_submission(folder: Path, only_parts: list[str] | None = None, limits: Limits = Limits(),
                     keyword: str | None = None) -> list[PartResult]:
    """Grade every part (or ``only_parts``) of the submission in ``folder``, ``limits.part_jobs``
    parts at a time (each is one thread of the judge and one of the submission's process)."""
    selected = only_parts or parts()
    for part in selected:
        answers.build(part)  # one after the other: each answer is computed from a seeded random stream
    with ThreadPoolExecutor(max_workers=max(1, limits.part_jobs)) as pool:
        return list(pool.map(lambda p: grade_part(p, find_submission_file(folder, p), limits, keyword), selected))


def provenance(limits: Limits) -> dict[str, str]:
    """What graded: the grader's version, the course version (hash) and the confinement used."""
    from importlib.metadata import version

    return {"grader_version": version("sae-course"), "course_hash": answers.course_hash()[:16],
            "sandbox": sandbox_label(limits)}


def gradescope_json(results: list[PartResult], limits: Limits = Limits()) -> dict:
    """Gradescope's autograder ``results.json`` shape, with the provenance in ``extra_data``."""
    return {
        "score": sum(r.score for r in results),
        "max_score": sum(r.max_score for r in results),
        "execution_time": round(sum(r.seconds for r in results), 1),
        "extra_data": provenance(limits),
        "tests": [t.gradescope() for r in results for t in r.tests],
    }


def table(results: list[PartResult]) -> str:
    """Human-readable per-test table ending in ``TOTAL: x / y``."""
    lines = []
    for r in results:
        source = r.file.name if r.file else "missing"
        lines.append(f"{r.part}  ({source}, {r.score:g} / {r.max_score:g}, {r.seconds:.0f} s)")
        for t in r.tests:
            mark = "PASS" if t.passed else "FAIL"
            hidden = "" if t.visible else " [hidden]"
            took = f"  ({t.seconds:.1f} s)" if t.seconds else ""
            lines.append(f"  {mark}  {t.score:g}/{t.max_score:g}  {t.name}{hidden}{took}")
            if not t.passed:
                lines.extend("        " + ln for ln in t.output.splitlines()[:12])
    total, most = sum(r.score for r in results), sum(r.max_score for r in results)
    lines.append(f"TOTAL: {total:g} / {most:g}")
    return "\n".join(lines)
