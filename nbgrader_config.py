"""nbgrader's configuration for this course. Run nbgrader from the repository root, with the venv's
Python, and it reads this file:

    .venv/bin/python -m grader.nbgrader_course          # source/<part>/<part>.ipynb from solutions/
    .venv/bin/nbgrader generate_assignment part1_toy_superposition
    # students' notebooks go to nbgrader/submitted/<student>/part1_toy_superposition/
    .venv/bin/nbgrader autograde part1_toy_superposition
    .venv/bin/nbgrader export                            # nbgrader/grades.csv, from the gradebook

Every part is one assignment named after it (``part1_toy_superposition``) holding one notebook
of the same name. The course directory is ``nbgrader/`` (not committed): ``source/`` (the
solution notebooks, with nbgrader's metadata), ``release/`` (what ``generate_assignment`` makes
for students: the same notebooks as ``student/``), ``submitted/``, ``autograded/``, ``feedback/``
and the gradebook database ``gradebook.db``. ``--CourseDirectory.root=DIR`` on the command line
moves all of it, the database included (``python -m grader.nbgrader_roundtrip`` does that).

A test cell only calls ``check("test_x")``: the test runs in a separate judge process that holds
the reference solution and computes the expected values, so neither enters the kernel nbgrader
runs the student's notebook in. A failed test raises an AssertionError, which nbgrader scores 0.
"""

import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 - traitlets defines get_config() for the config files it loads

COURSE_DIRECTORY = Path(__file__).resolve().parent / "nbgrader"

c.CourseDirectory.course_id = "sae-course"
c.CourseDirectory.root = str(COURSE_DIRECTORY)
# nbgrader's default step folders, spelled out so that the layout above is written down here.
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
# CourseDirectory.db_url is left at its default, sqlite:///<root>/gradebook.db, so it follows root.
c.ExportPlugin.to = str(COURSE_DIRECTORY / "grades.csv")  # nbgrader export: one row per student and part

# Demo cells (training runs and plots) run at smoke size under nbgrader: they only need to run,
# and at full size Part 2's take many minutes. The kernel inherits this process's environment;
# set SAECOURSE_SIZE=full yourself to autograde with the real runs.
os.environ.setdefault("SAECOURSE_SIZE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")  # plots are saved as files, never shown

# nbgrader runs the `alembic` command by name when it creates the gradebook database; with this
# Python's bin folder on PATH, .venv/bin/nbgrader finds it without an activated venv.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])

# Seconds any one cell may run before nbgrader interrupts it (nbgrader's default is 30). A test
# cell must get the time the course's grader allows the tests it runs, each test's limit plus
# the judge's grace (Part 2's training cell: 180 + 600 + 2 x 120 = 1020 s, a gate in
# tests/test_nbgrader.py), or nbgrader would fail work the grader passes; the round trip
# measures the slowest cell of the reference at under 20 s. At smoke size no demo cell comes near.
c.Execute.timeout = 1500
