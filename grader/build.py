"""``python -m grader.build [--check]``: generate ``solutions/``, ``student/`` and the exported helper modules from ``course/``.

Each ``course/partN_*.py`` (Jupytext py:percent with nbgrader metadata) becomes a paired
``.py`` + ``.ipynb`` in both folders. The student copy goes through nbgrader's own
``ClearSolutions`` and ``ClearHiddenTests`` preprocessors, so ``### BEGIN SOLUTION`` regions
become ``raise NotImplementedError()`` stubs and hidden tests disappear. The output is
deterministic (cell ids come from nbgrader grade ids), so ``--check`` can prove that the
committed folders equal a fresh build. The notebooks' ``#| export <module>`` cells become
``course/saecourse/<module>.py`` (``saecourse.export``; git-ignored build outputs).
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import jupytext
from nbformat import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

from grader.framework import COURSE, REPO, parts
from saecourse.export import export

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
OUTPUT_DIRS = {"solutions": REPO / "solutions", "student": REPO / "student"}


def read_source(part: str) -> NotebookNode:
    """The course source of ``part`` as a notebook with deterministic metadata and cell ids."""
    nb = jupytext.read(COURSE / f"{part}.py")
    nb.metadata = {
        "kernelspec": KERNELSPEC,
        "language_info": {"name": "python"},
        "jupytext": {"formats": "ipynb,py:percent"},
    }
    for i, cell in enumerate(nb.cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        cell.id = grade_id or f"cell-{i:03d}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def student_version(nb: NotebookNode) -> NotebookNode:
    """Solutions replaced by stubs and hidden tests removed, with nbgrader's preprocessors."""
    nb = copy.deepcopy(nb)
    for preprocessor in (ClearSolutions(enforce_metadata=True), ClearHiddenTests(enforce_metadata=True)):
        nb, _ = preprocessor.preprocess(nb, {})
    return nb


def rendered(part: str) -> dict[Path, str]:
    """Every generated file of ``part`` and its exact text."""
    source = read_source(part)
    files = {}
    for folder, nb in (("solutions", source), ("student", student_version(source))):
        base = OUTPUT_DIRS[folder] / part
        files[base.with_suffix(".ipynb")] = jupytext.writes(nb, fmt="ipynb")
        files[base.with_suffix(".py")] = jupytext.writes(nb, fmt="py:percent")
    return files


def build(check: bool = False) -> list[Path]:
    """Write (or with ``check`` only compare) the generated files; return those out of date."""
    stale = export(check)
    for part in parts():
        for path, text in rendered(part).items():
            if not path.exists() or path.read_text() != text:
                stale.append(path)
                if not check:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(text)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.build", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report files that differ from a fresh build")
    args = parser.parse_args(argv)
    stale = build(check=args.check)
    for path in stale:
        print(("out of date: " if args.check else "wrote ") + str(path.relative_to(REPO)))
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
