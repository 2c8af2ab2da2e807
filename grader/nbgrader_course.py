"""``python -m grader.nbgrader_course [--submissions DIR]``: fill nbgrader's course directory.

``nbgrader_config.py`` (repository root) names the course directory and its step folders. This
puts every solution notebook where ``nbgrader generate_assignment`` reads it,
``source/<part>/<part>.ipynb`` (each part is one assignment named after it), and with
``--submissions DIR`` copies a class's notebooks from the layout ``make grade-all`` reads,
``DIR/<student>/<part>.ipynb``, to ``submitted/<student>/<part>/<part>.ipynb`` for
``nbgrader autograde``. Paths come from nbgrader's own ``CourseDirectory``, so a changed
folder name in the config applies here too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from unittest import mock

from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config, PyFileConfigLoader

from grader.framework import REPO, parts

CONFIG = REPO / "nbgrader_config.py"


def load_config() -> Config:
    """``nbgrader_config.py`` as nbgrader reads it.

    Loading the file runs it, and it sets variables in ``os.environ`` for the processes nbgrader
    starts; they are undone here, so this process's environment stays as it was.
    """
    with mock.patch.dict(os.environ):
        return PyFileConfigLoader(CONFIG.name, path=str(CONFIG.parent)).load_config()


def course_directory(root: Path | None = None) -> CourseDirectory:
    """nbgrader's view of the course that ``nbgrader_config.py`` configures, optionally moved to ``root``."""
    config = load_config()
    if root is not None:
        config.CourseDirectory.root = str(root)
    return CourseDirectory(config=config)


def notebook_path(course: CourseDirectory, step: str, student: str, part: str) -> Path:
    """``<root>/<step>/[<student>/]<part>/<part>.ipynb``; ``step`` is e.g. ``course.submitted_directory``."""
    return Path(course.format_path(step, student, part)) / f"{part}.ipynb"


def add_source(course: CourseDirectory, part: str) -> Path:
    """Copy ``solutions/<part>.ipynb`` to the course's source folder; return where it went."""
    return _copy(REPO / "solutions" / f"{part}.ipynb", notebook_path(course, course.source_directory, ".", part))


def add_submission(course: CourseDirectory, student: str, part: str, notebook: Path) -> Path:
    """Put ``notebook`` where ``nbgrader autograde`` looks for ``student``'s work on ``part``."""
    return _copy(notebook, notebook_path(course, course.submitted_directory, student, part))


def _copy(source: Path, target: Path) -> Path:
    """Copy ``source`` to ``target``, making its folders; return ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def add_class(course: CourseDirectory, submissions: Path) -> list[Path]:
    """Every ``submissions/<student>/<part>.ipynb``, added as that student's submission."""
    return [add_submission(course, folder.name, part, folder / f"{part}.ipynb")
            for folder in sorted(p for p in submissions.iterdir() if p.is_dir())
            for part in parts() if (folder / f"{part}.ipynb").exists()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.nbgrader_course", description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=Path, help="a folder of student folders holding partN_*.ipynb")
    args = parser.parse_args(argv)
    course = course_directory()
    written = [add_source(course, part) for part in parts()]
    if args.submissions:
        written += add_class(course, args.submissions)
    for path in written:
        print(f"wrote {path.relative_to(course.root)}")
    print(f"course directory: {course.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
