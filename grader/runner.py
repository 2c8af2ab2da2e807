"""One way to run a graded test, wherever it runs, and one record of its result.

A graded test runs in three places: the grader's pytest plugin (a submission's confined process,
``grader.plugin``), the judge behind a notebook's ``check()`` (the student's own kernel,
``grader.judge``) and the release's recording of the visible key (the reference notebook,
``grader.release``). ``run`` is what all three call, so that a test sees the same thing in each:
the submission and the judge seeded the same way (``start_test``), the same time limit
on its calls into the submission (the test's ``timeout``, at most ``Limits.test_seconds``), the
same failure text (``failure_message``, else the last frames of the traceback) and the bounds a
call cannot fail checked after it (``Connection.end_test``).

``TestResult`` is the result of one test: written by the plugin as a line of JSON, read back by
``grader.run``, and turned into Gradescope's form (``gradescope()``) for ``results.json``.
"""

from __future__ import annotations

import dataclasses
import math
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from grader import limits as bounds
from grader.checks import seed
from grader.framework import GradedTest
from grader.limits import Limits
from grader.remote import SubmissionError

OUTPUT_CAP = 2000  # characters of failure output kept per failure (twice that per test)
JUDGE_SEED = 0  # the judge's torch seed before every graded test


@dataclass
class TestResult:
    """What one graded test gave a submission."""

    name: str  # the test, e.g. "test_generate_batch"
    part: str  # its part, e.g. "part1_toy_superposition"
    max_score: float
    visible: bool  # shown to students at once (else after the grades are published)
    failures: list[str] = field(default_factory=list)  # why it failed, one entry per cause; empty: passed
    seconds: float = 0.0  # the test's wall-clock time, setup and teardown included

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def status(self) -> str:
        return "passed" if self.passed else "failed"

    @property
    def score(self) -> float:
        return self.max_score if self.passed else 0

    @property
    def output(self) -> str:
        return "\n".join(self.failures)[: 2 * OUTPUT_CAP]

    @property
    def limits(self) -> list[str]:
        """The grading bounds the failure text says the test hit (``grader.limits``)."""
        return bounds.hit(self.output)

    @classmethod
    def not_graded(cls, test: GradedTest, reason: str) -> TestResult:
        return cls(test.name, test.part, test.points, test.visible, [reason])

    def to_json(self) -> dict[str, Any]:
        """The record as JSON data (a line of the plugin's results file); ``from_json`` reads it back."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TestResult:
        return cls(**data)

    def gradescope(self) -> dict[str, Any]:
        """The test in Gradescope's ``results.json`` form."""
        extra: dict[str, Any] = {"seconds": round(self.seconds, 2)}
        if self.limits:
            extra["limits"] = self.limits
        return {"name": f"{self.part}::{self.name}", "score": self.score, "max_score": self.max_score,
                "status": self.status, "output": self.output,
                "visibility": "visible" if self.visible else "after_published", "extra_data": extra}


def failure_message(err: BaseException | None) -> str | None:
    """What a student reads for a graded test that raised ``err``: the assertion's message or what their
    code did (``SubmissionError``); None where only the traceback can say."""
    if isinstance(err, SubmissionError):
        return err.student_message()[:OUTPUT_CAP]
    if isinstance(err, AssertionError) and str(err):
        return str(err)[:OUTPUT_CAP]
    return None


def failure_text(err: BaseException) -> str:
    """``failure_message(err)``, else the last frames of its traceback (two for a bare assert: the test's
    line and its caller's; three for an error in the judge's code)."""
    if message := failure_message(err):
        return message
    frames = -2 if isinstance(err, AssertionError) else -3
    return "".join(traceback.format_exception(err, limit=frames))[-OUTPUT_CAP:]


def start_test(sub: Any = None) -> None:
    """Before every graded test: the submission's process (``sub``, when there is one) seeded with 0 and
    the judge with ``JUDGE_SEED``, so a test sees the same random streams everywhere and in any order."""
    if sub is not None:
        seed(sub, 0)
    torch.manual_seed(JUDGE_SEED)


def test_seconds(test: Callable, limits: Limits) -> float:
    """How long the test's calls into the submission may take: its own ``timeout``, at most ``limits.test_seconds``."""
    return min(test.timeout, limits.test_seconds or math.inf)


def run(test: Callable, sub: Any, ref: Any, connection: Any = None, limits: Limits | None = None,
        budget_ends: float = math.inf) -> list[str]:
    """Run the graded test ``test(sub=sub, ref=ref)``; return why it failed (empty: it passed).

    ``connection`` (a ``grader.remote.Connection`` or ``Box``) carries the calls into the submission: they
    get ``test_seconds``, or less where ``budget_ends`` (``time.monotonic()``, the part's time budget under
    the plugin) comes first, and ``connection.end_test()`` checks the bounds after the test."""
    limits = limits or Limits()
    if connection is not None:
        now, limit = time.monotonic(), test_seconds(test, limits)
        connection.deadline = min(now + limit, budget_ends)
        if connection.deadline < now + limit:
            connection.deadline_why = f"what was left of this part's time budget of {limits.part_seconds:g} s"
            connection.deadline_tag = bounds.tag("part time")
    failures = []
    try:
        start_test(sub)
        test(sub=sub, ref=ref)
    except Exception as err:  # noqa: BLE001 - any failure of the test is the submission's result
        failures.append(failure_text(err))
    except BaseException:  # pytest-timeout, an interrupt: a reply may be on its way, so the process is not reused
        if connection is not None:
            connection.timed_out = True
            connection.kill()
        raise
    finally:
        if connection is not None and (problem := connection.end_test()):
            failures.append(problem)
    return failures
