"""pytest plugin that grades one submission file against one part's graded tests.

This process is the judge: it holds the reference solution and the answer key and never runs
the submission's code. Fixtures: ``sub`` (a proxy for the submission's notebook, which runs in a
confined process, ``grader.remote.Box``) and ``ref`` (the reference solution). Every finished test
is appended at once to a JSON-lines results file (``TestResult.to_json``). Each test runs through
``grader.runner.run``, as behind a notebook's ``check()``; here the part's tests also share a time
budget (``--limits``' ``part_seconds``): a test's calls end when it is spent, and the tests after it
fail without running.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from grader import framework, runner, sandbox
from grader import limits as bounds
from grader.limits import Limits
from grader.remote import Box
from grader.runner import OUTPUT_CAP, TestResult, failure_message
from grader.warm import Address, WarmBox
from saecourse.cells import definition_sources, read_cells


def pytest_addoption(parser):
    group = parser.getgroup("grader")
    group.addoption("--submission", help="notebook (.ipynb) or Jupytext .py file to grade")
    group.addoption("--results", help="JSON-lines file to append one record per test to")
    group.addoption("--part", dest="grade_part", help="the course part the tests belong to")
    group.addoption("--limits", default=None, help="grader.limits.Limits as JSON (default: the settings' values)")
    group.addoption("--warm", default=None, help="a warm server's grader.warm.Address (the repository's own fixtures only)")


class Grading:
    """Session state: the submission's process, the part's time budget and partial per-test results."""

    def __init__(self, config):
        self.submission = Path(config.getoption("submission"))
        self.results = Path(config.getoption("results"))
        self.part = config.getoption("grade_part")
        given = config.getoption("limits")
        self.limits = Limits.from_json(given) if given else Limits()
        warm = config.getoption("warm")
        self.warm = Address.from_text(warm) if warm else None
        self.budget_ends: float | None = None  # time.monotonic() when the part's time budget is spent
        self.box: Box | None = None
        self.pending: dict[str, TestResult] = {}
        self.failed_calls: dict[str, list[str]] = {}  # the failures runner.run returned, by test

    def connect(self) -> Box:
        """The submission's process (started at its first request), fed the notebook's definitions."""
        if self.box is None:
            try:
                cells, unreadable = definition_sources(read_cells(self.submission)), None
            except Exception as err:  # noqa: BLE001 - invalid JSON, not a notebook, ...
                cells, unreadable = [], f"your notebook {self.submission.name} could not be read: {str(err)[:300]}"
            limits = self.limits.submission(hidden=tuple(sandbox.hidden_for(self.part)))
            self.box = WarmBox(cells, limits, self.warm) if self.warm else Box(cells, limits)
            self.box.broken = unreadable
        return self.box

    def budget_left(self) -> float:
        """Seconds left of the part's time budget, which starts at the first test."""
        now = time.monotonic()
        if self.budget_ends is None:
            self.budget_ends = now + self.limits.part_seconds if math.isfinite(self.limits.part_seconds) else math.inf
        return self.budget_ends - now

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


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run the graded test through ``runner.run``, within what is left of the part's time budget."""
    grading = pyfuncitem.config.pluginmanager.get_plugin("grading")
    if grading is None:
        return None
    box = grading.connect()
    if box.proc is None and not box.broken:
        box.start()  # a (re)start runs the definitions under their own limit, not the test's
    if grading.budget_left() <= 0:
        failures = [f"not run: the tests before it used up this part's time budget of {grading.limits.part_seconds:g} s "
                    f"{bounds.tag('part time')}"]
    else:
        args = pyfuncitem.funcargs
        failures = runner.run(pyfuncitem.obj, args["sub"], args["ref"], box, grading.limits, grading.budget_ends)
    if failures:
        grading.failed_calls[pyfuncitem.name] = failures
        pytest.fail("\n".join(failures), pytrace=False)
    return True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    grading = item.config.pluginmanager.get_plugin("grading")
    if grading is None:
        return
    fn = item.function
    result = grading.pending.setdefault(item.name, TestResult(item.name, fn.__module__.rsplit(".", 1)[-1], fn.points,
                                                              fn.visible))
    result.seconds += report.duration
    if report.failed:  # the test's failures, or what failed around it (a fixture, pytest-timeout)
        error = call.excinfo.value if call.excinfo is not None else None
        result.failures += (grading.failed_calls.pop(item.name, None) if report.when == "call" else None) or [
            failure_message(error) or report.longreprtext[-OUTPUT_CAP:]]
    elif report.skipped and report.when != "teardown":
        result.failures.append("skipped: " + str(report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr))
    if report.when == "teardown":
        _emit(grading, grading.pending.pop(item.name))


def _emit(grading: Grading, result: TestResult) -> None:
    if result.failures and grading.notes():
        result.failures.append("Note: while loading your notebook, " + "\n".join(grading.notes())[:OUTPUT_CAP])
    result.seconds = round(result.seconds, 2)
    with grading.results.open("a") as f:
        f.write(json.dumps(result.to_json()) + "\n")
