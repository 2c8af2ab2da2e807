"""pytest plugin that grades one submission file against one part's graded tests.

This process is the judge: it holds the reference solution and the answer key and never runs
the submission's code. Fixtures: ``sub`` (a proxy for the submission's notebook, which runs in a
confined process, ``grader.remote.Box``) and ``ref`` (the reference solution). Every finished test
is appended at once to a JSON-lines results file. The part's tests share a time budget
(``--limits``' ``part_seconds``): a test's calls end when it is spent, and the tests after it fail
without running.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from grader import framework, sandbox
from grader import limits as bounds
from grader.limits import Limits
from grader.remote import Box, SubmissionError
from saecourse.cells import definition_sources, read_cells

OUTPUT_CAP = 2000  # characters of failure output kept per test


def pytest_addoption(parser):
    group = parser.getgroup("grader")
    group.addoption("--submission", help="notebook (.ipynb) or Jupytext .py file to grade")
    group.addoption("--results", help="JSON-lines file to append one record per test to")
    group.addoption("--part", dest="grade_part", help="the course part the tests belong to")
    group.addoption("--limits", default=None, help="grader.limits.Limits as JSON (default: the settings' values)")


class Grading:
    """Session state: the submission's process and partial per-test records."""

    def __init__(self, config):
        self.submission = Path(config.getoption("submission"))
        self.results = Path(config.getoption("results"))
        self.part = config.getoption("grade_part")
        given = config.getoption("limits")
        limits = Limits.from_json(given) if given else Limits()
        self.part_seconds = limits.part_seconds
        self.limits = limits.submission(hidden=tuple(sandbox.hidden_for(self.part)))
        self.test_cap = limits.test_seconds
        self.budget_ends: float | None = None  # time.monotonic() when the part's time budget is spent
        self.box: Box | None = None
        self.pending: dict[str, dict] = {}

    def connect(self) -> Box:
        """The submission's process (started at its first request), fed the notebook's definitions."""
        if self.box is None:
            try:
                cells, unreadable = definition_sources(read_cells(self.submission)), None
            except Exception as err:  # noqa: BLE001 - invalid JSON, not a notebook, ...
                cells, unreadable = [], f"your notebook {self.submission.name} could not be read: {str(err)[:300]}"
            self.box = Box(cells, self.limits)
            self.box.broken = unreadable
        return self.box

    def notes(self) -> list[str]:
        return self.box.load_errors if self.box else []


def pytest_configure(config):
    if config.getoption("submission"):
        config.pluginmanager.register(Grading(config), "grading")


def pytest_unconfigure(config):
    grading = config.pluginmanager.get_plugin("grading")
    if grading is not None and grading.box is not None:
        grading.box.close()


def pytest_collection_finish(session):
    """Record which tests were selected, so the parent knows which ones never reported."""
    grading = session.config.pluginmanager.get_plugin("grading")
    if grading is not None:
        with grading.results.open("a") as f:
            f.write(json.dumps({"collected": [item.name for item in session.items]}) + "\n")


def _grading(request) -> Grading:
    return request.config.pluginmanager.get_plugin("grading")


@pytest.fixture(scope="session")
def sub(request):
    return _grading(request).connect().root()


@pytest.fixture(scope="session")
def ref(request):
    return framework.reference(_grading(request).part)


@pytest.fixture(autouse=True)
def _submission_budget(request):
    """Give the test's calls into the submission their time limit; clean up after them."""
    grading = _grading(request)
    box = grading.connect() if grading else None
    if box is not None:
        if box.proc is None and not box.broken:
            box.start()  # a (re)start runs the definitions under their own limit, not the test's
        now = time.monotonic()
        if grading.budget_ends is None:
            grading.budget_ends = now + grading.part_seconds if math.isfinite(grading.part_seconds) else math.inf
        if grading.budget_ends - now <= 0:
            pytest.fail(f"not run: the tests before it used up this part's time budget of {grading.part_seconds:g} s "
                        f"{bounds.tag('part time')}", pytrace=False)
        limit = min(request.function.timeout, grading.test_cap or float("inf"))
        box.deadline = min(now + limit, grading.budget_ends)
        if box.deadline < now + limit:
            box.deadline_why = f"what was left of this part's time budget of {grading.part_seconds:g} s"
            box.deadline_tag = bounds.tag("part time")
    framework.start_test(box.root() if box is not None else None)
    yield
    if box is not None and (problem := box.end_test()):
        pytest.fail(problem, pytrace=False)


def failure_message(err: BaseException | None) -> str | None:
    """What a student reads for a graded test that raised ``err``, wherever it ran (here, behind a
    notebook's ``check()``): the assertion's message or what their code did; None where only the
    traceback can say."""
    if isinstance(err, SubmissionError):
        return err.student_message()[:OUTPUT_CAP]
    if isinstance(err, AssertionError) and str(err):
        return str(err)[:OUTPUT_CAP]
    if isinstance(err, pytest.fail.Exception) and not err.pytrace:  # the grader's own message (a bound)
        return str(err.msg)[:OUTPUT_CAP]
    return None


def failure_text(excinfo, report) -> str:
    """A failed test's output in the results: its failure_message, else pytest's traceback."""
    return failure_message(excinfo.value if excinfo is not None else None) or report.longreprtext[-OUTPUT_CAP:]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    grading = item.config.pluginmanager.get_plugin("grading")
    if grading is None:
        return
    fn = item.function
    record = grading.pending.setdefault(item.name, {
        "name": item.name,
        "part": item.module.__name__.rsplit(".", 1)[-1],
        "max_score": fn.points,
        "visibility": "visible" if fn.visible else "after_published",
        "failures": [],
        "extra_data": {"seconds": 0.0},
    })
    record["extra_data"]["seconds"] = round(record["extra_data"]["seconds"] + report.duration, 2)
    if report.failed:
        record["failures"].append(failure_text(call.excinfo, report))
    elif report.skipped and report.when != "teardown":
        record["failures"].append("skipped: " + str(report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr))
    if report.when == "teardown":
        _emit(grading, grading.pending.pop(item.name))


def _emit(grading: Grading, record: dict) -> None:
    failures = record.pop("failures")
    if failures and grading.notes():
        failures.append("Note: while loading your notebook, " + "\n".join(grading.notes())[:OUTPUT_CAP])
    record["status"] = "failed" if failures else "passed"
    record["score"] = 0 if failures else record["max_score"]
    record["output"] = "\n".join(failures)[: 2 * OUTPUT_CAP]
    if hit := bounds.hit(record["output"]):
        record["extra_data"]["limits"] = hit
    with grading.results.open("a") as f:
        f.write(json.dumps(record) + "\n")
