"""pytest plugin that grades one submission file against one part's graded tests.

Fixtures: ``sub`` (the submission's definitions) and ``ref`` (the reference solution). Every
finished test is appended at once to a JSON-lines results file, so the results of the tests that
ran survive even if a later test kills the process.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader import framework
from grader.guard import Guard
from grader.loader import load_notebook

OUTPUT_CAP = 2000  # characters of failure output kept per test


def pytest_addoption(parser):
    group = parser.getgroup("grader")
    group.addoption("--submission", help="notebook (.ipynb) or Jupytext .py file to grade")
    group.addoption("--results", help="JSON-lines file to append one record per test to")
    group.addoption("--part", dest="grade_part", help="the course part the tests belong to")


class Grading:
    """Session state: the loaded submission, the guard, and partial per-test records."""

    def __init__(self, config):
        self.submission = Path(config.getoption("submission"))
        self.results = Path(config.getoption("results"))
        self.part = config.getoption("grade_part")
        self.module = None
        self.load_notes: list[str] = []
        self.guard: Guard | None = None
        self.pending: dict[str, dict] = {}

    def load(self):
        """Load the reference, snapshot the guarded libraries, then load the submission."""
        part = self.part
        if self.module is None:
            framework.reference(part)
            self.guard = Guard([f"grader.parts.{part}", f"reference_{part}"])
            module, report = load_notebook(self.submission, f"submission_{part}")
            self.module = framework.Namespace(module.__dict__)
            self.load_notes = report.errors
            if patched := self.guard.restore():
                self.load_notes.append(f"your notebook modified library code, which was undone: {', '.join(patched)}")
        return self.module


def pytest_configure(config):
    if config.getoption("submission"):
        config.pluginmanager.register(Grading(config), "grading")


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
    return _grading(request).load()


@pytest.fixture(scope="session")
def ref(request, sub):
    return framework.reference(_grading(request).part)


@pytest.fixture(autouse=True)
def _no_tampering(request):
    yield
    grading = _grading(request)
    if grading and grading.guard and (patched := grading.guard.restore()):
        pytest.fail(f"your code modified library code while this test ran (undone): {', '.join(patched)}")


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
    })
    if report.failed:
        if call.excinfo is not None and call.excinfo.errisinstance(NotImplementedError):
            where = call.excinfo.traceback[-1]
            record["failures"].append(f"not implemented yet: {where.name} raises NotImplementedError")
        elif call.excinfo is not None and call.excinfo.errisinstance(AssertionError) and str(call.excinfo.value):
            record["failures"].append(str(call.excinfo.value)[:OUTPUT_CAP])
        else:
            record["failures"].append(report.longreprtext[-OUTPUT_CAP:])
    elif report.skipped and report.when != "teardown":
        record["failures"].append("skipped: " + str(report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr))
    if report.when == "teardown":
        _emit(grading, grading.pending.pop(item.name))


def _emit(grading: Grading, record: dict) -> None:
    failures = record.pop("failures")
    if failures and grading.load_notes:
        failures.append("Note: while loading your notebook, " + "\n".join(grading.load_notes)[:OUTPUT_CAP])
    record["status"] = "failed" if failures else "passed"
    record["score"] = 0 if failures else record["max_score"]
    record["output"] = "\n".join(failures)[: 2 * OUTPUT_CAP]
    with grading.results.open("a") as f:
        f.write(json.dumps(record) + "\n")
