"""A pytest plugin that records when every test phase and every slow fixture ran, for
``bench/check_breakdown.py``: ``-p bench.check_timing`` with ``CHECK_TIMING_DIR`` set.

Each process (the controller and every xdist worker) appends JSON lines to its own file:
``{"kind": "phase", "nodeid", "when", "start", "stop", "worker"}`` for setup, call and teardown,
and ``{"kind": "fixture", "name", "scope", "nodeid", "start", "stop", "worker"}`` for fixtures.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "controller")
FOLDER = os.environ.get("CHECK_TIMING_DIR")


def _forget_settings() -> None:
    """The graders the tests start run pytest too: they must not load this plugin or log."""
    os.environ.pop("PYTEST_ADDOPTS", None)
    os.environ.pop("CHECK_TIMING_DIR", None)


def pytest_configure(config):
    if WORKER != "controller":
        _forget_settings()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtestloop(session):
    _forget_settings()  # in the controller: after xdist started its workers with the settings
    yield


def _write(record: dict) -> None:
    if FOLDER:
        with open(Path(FOLDER) / f"{WORKER}.jsonl", "a") as f:
            f.write(json.dumps({**record, "worker": WORKER}) + "\n")


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    start = time.time()
    yield
    _write({"kind": "fixture", "name": fixturedef.argname, "scope": fixturedef.scope,
            "nodeid": request.node.nodeid, "start": start, "stop": time.time()})


def pytest_runtest_logreport(report):
    if not hasattr(report, "node"):  # xdist's controller sees each worker's report again, with .node set
        _write({"kind": "phase", "nodeid": report.nodeid, "when": report.when, "outcome": report.outcome,
                "start": report.start, "stop": report.stop})
