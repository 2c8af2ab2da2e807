"""``python -m grader.gradescope [--out build/gradescope.zip] [--unsafe-no-sandbox]``: Gradescope's autograder zip.

Gradescope unpacks the zip into ``/autograder/source``, runs its ``setup.sh`` once to build an
image, then, for every submission, puts the student's files in ``/autograder/submission``, runs
``run_autograder`` and reads ``/autograder/results/results.json``. The zip holds:

* ``setup.sh`` and ``run_autograder``, from ``gradescope/`` in the repository (read them: each
  says what it does and why);
* ``autograder.env``, the grader's flags, written here: ``--unsafe-no-sandbox`` if the zip is
  built with it, for a Gradescope image where bubblewrap cannot confine a submission (``setup.sh``
  fails otherwise, saying so; the results then record the missing confinement);
* ``rubrics.md``, the written questions graded by hand, with their points, rubrics and model
  answers (``grader.rubrics``): add each as a manually graded question of the assignment;
* what grading reads: ``pyproject.toml`` and ``README.md`` (to install the course), ``course/``,
  ``grader/``, ``gradebox/``, and the untouched stubs ``student/*.py`` (``grader.run`` compares a
  submission with them). No solutions, tests, caches or ``__pycache__``.

The zip is reproducible: entries sorted, timestamps fixed, permissions only ``0644`` or ``0755``.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

from grader import rubrics
from grader.archive import write_zip
from grader.framework import REPO

SCRIPTS = REPO / "gradescope"  # setup.sh and run_autograder, put at the zip's root
SOURCES = ["pyproject.toml", "README.md", "course/**/*", "grader/**/*", "gradebox/**/*", "student/*.py"]
SKIPPED_FOLDERS = {"__pycache__", ".ipynb_checkpoints"}


def source_files() -> list[str]:
    """The repository's files that grading needs, as sorted relative paths."""
    found = {path for pattern in SOURCES for path in REPO.glob(pattern) if path.is_file()}
    relative = (path.relative_to(REPO) for path in found)
    return sorted(str(p) for p in relative if not SKIPPED_FOLDERS & set(p.parts) and p.suffix != ".pyc")


def autograder_env(unsafe_no_sandbox: bool) -> str:
    """``autograder.env``: the flags ``setup.sh`` and ``run_autograder`` pass to the grader."""
    flags = "--unsafe-no-sandbox" if unsafe_no_sandbox else ""
    return f"# Written by python -m grader.gradescope; read by setup.sh and run_autograder.\nGRADER_FLAGS=\"{flags}\"\n"


def build_zip(out: Path, unsafe_no_sandbox: bool = False) -> Path:
    """Write the autograder zip to ``out`` and return it."""
    entries = {
        "setup.sh": ((SCRIPTS / "setup.sh").read_bytes(), True),
        "run_autograder": ((SCRIPTS / "run_autograder").read_bytes(), True),
        "autograder.env": (autograder_env(unsafe_no_sandbox).encode(), False),
        "rubrics.md": (rubrics.markdown().encode(), False),
        **{name: ((REPO / name).read_bytes(), False) for name in source_files()},
    }
    return write_zip(out, entries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.gradescope", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "build" / "gradescope.zip")
    parser.add_argument("--unsafe-no-sandbox", action="store_true",
                        help="grade without confining submissions, for images where bubblewrap cannot run (recorded)")
    args = parser.parse_args(argv)
    out = build_zip(args.out, args.unsafe_no_sandbox)
    with zipfile.ZipFile(out) as archive:
        count = len(archive.namelist())
    print(f"{out}: {count} files, {out.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
