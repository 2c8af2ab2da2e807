"""Stock nbgrader grades every part as the course's own grader does, and every solution notebook
runs end to end at smoke size, demo cells and plots included.

The round trip (``grader.nbgrader_roundtrip``) runs ``generate_assignment`` and ``autograde`` with
the shipped ``nbgrader_config.py`` on the reference and on the untouched release, then reads the
scores from nbgrader's gradebook: the reference earns every autograded point, the stub none.

The reference's autograde executes the whole solution notebook at smoke size (``SAECOURSE_SIZE=smoke``
shrinks the demo cells' data and step counts; the code is the one ``make solutions`` runs at full
size), so it is also the course's smoke test: no cell may fail and every plot the notebook's
``save_figure`` calls name must be saved. The graders skip demo cells, so without it a broken
training demo or plot would go unnoticed. ``make smoke`` runs the same notebooks outside nbgrader.
"""

from __future__ import annotations

import re

import pytest

from grader.build import read_source
from grader.framework import JUDGE_GRACE, graded_tests, parts
from grader.nbgrader_course import load_config
from grader.nbgrader_roundtrip import round_trip
from saecourse.cells import is_test_cell

CHECKED = re.compile(r"check\(\s*['\"](\w+)['\"]\s*\)")


@pytest.mark.parametrize("part", parts())
def test_nbgrader_round_trip_runs_every_cell(part, tmp_path, monkeypatch):
    monkeypatch.setenv("SAECOURSE_THREADS", "1")  # the kernel runs beside other tests on a 2-core machine
    trip = round_trip(part, tmp_path)
    assert trip.scores == trip.expected, "\n".join(trip.problems)
    assert not trip.problems, "\n".join(trip.problems)


@pytest.mark.parametrize("part", parts())
def test_cell_timeout_covers_every_test_cell(part):
    """nbgrader interrupts any cell after ``Execute.timeout`` seconds; a test cell must get at least
    the time the course's grader allows the tests it runs, or nbgrader would fail work it passes."""
    limits = {test.name: test.timeout + JUDGE_GRACE for test in graded_tests(part)}
    needed = max(sum(limits[name] for name in CHECKED.findall(cell.source))
                 for cell in read_source(part).cells if cell.cell_type == "code" and is_test_cell(cell))
    assert load_config().Execute.timeout >= needed, f"a test cell of {part} may need {needed} s"
