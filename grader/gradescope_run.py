"""``python -m grader.gradescope_run --submission DIR --results PATH``: grade one Gradescope upload.

What Gradescope's ``run_autograder`` does for each submission (see ``grader.gradescope``).
Students upload notebooks as they like: in a sub-folder, as ``Part1_...`` instead of
``part1_...``, beside unrelated files. This picks each part's ``.ipynb`` and ``.py`` out of the
upload by name, copies them under their proper names into a clean folder, grades that folder with
``python -m grader`` and writes Gradescope's ``results.json``, its top-level ``output`` saying
which files were graded and which were not. If grading fails, the ``results.json`` still comes:
score 0, and an ``output`` that says so.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.framework import parts
from saecourse.files import write_json

ERROR_TAIL = 1500  # characters of the grader's error output quoted in a failed run's results


@dataclass
class Upload:
    """The files of a submission: the one graded for each expected name, and the rest."""

    chosen: dict[str, Path] = field(default_factory=dict)  # expected file name -> uploaded file
    ignored: dict[Path, str] = field(default_factory=dict)  # uploaded file -> why it is not graded


def expected_names() -> list[str]:
    """The file names the grader reads: ``<part>.ipynb`` and ``<part>.py`` for every part."""
    return [f"{part}{suffix}" for part in parts() for suffix in (".ipynb", ".py")]


def collect(submission: Path) -> Upload:
    """Match the upload's files to the expected names, ignoring case and folders.

    When two files match one name, the one nearest the top of the upload is taken. Symbolic links
    are never taken: one could point at the reference solution beside the submission.
    """
    names = {name.lower(): name for name in expected_names()}
    upload = Upload()
    files = sorted((p for p in submission.rglob("*") if p.is_file() or p.is_symlink()),
                   key=lambda p: (len(p.relative_to(submission).parts), str(p)))
    for path in files:
        name = names.get(path.name.lower())
        if name is None:
            upload.ignored[path] = "not a file of this course"
        elif path.is_symlink():
            upload.ignored[path] = "a symbolic link"
        elif name in upload.chosen:
            upload.ignored[path] = f"{name} was taken from {upload.chosen[name].relative_to(submission)}"
        else:
            upload.chosen[name] = path
    return upload


def copy_upload(upload: Upload, folder: Path) -> None:
    """Copy the chosen files into ``folder`` under their expected names, keeping their times
    (the grader takes the newer of a ``.py`` and an ``.ipynb`` that differ)."""
    for name, path in upload.chosen.items():
        shutil.copy2(path, folder / name)


def summary(upload: Upload, submission: Path) -> str:
    """The top-level ``output`` students read: what was graded, what was not and why."""
    def shown(path: Path) -> str:
        return str(path.relative_to(submission))

    graded = [f"  {shown(path)}" + (f" (as {name})" if path.name != name else "")
              for name, path in sorted(upload.chosen.items())]
    lines = ["Graded:", *graded] if graded else [
        "No notebook of this course was found in your submission, so every test scores 0."]
    if upload.ignored:
        lines += ["Not graded (the grader reads only " + ", ".join(expected_names()) + "):",
                  *(f"  {shown(path)}: {why}" for path, why in upload.ignored.items())]
    missing = [part for part in parts() if not any(name.startswith(f"{part}.") for name in upload.chosen)]
    if graded and missing:
        lines.append("Missing, so their tests score 0: " + ", ".join(missing))
    return "\n".join(lines + by_hand())


def by_hand() -> list[str]:
    """The lines that name the written questions, which the course staff grade by hand on Gradescope."""
    from grader.rubrics import written_questions

    questions = [f"  {part}: {q.title} ({q.points} points)" for part in parts() for q in written_questions(part)]
    return ["Graded by hand, not in this score (their rubrics are in your notebooks):", *questions] if questions else []


class GradingFailed(RuntimeError):
    """``python -m grader`` could not grade (e.g. no sandbox) or gave no readable results."""


def failed_results(reason: str) -> dict:
    """A valid ``results.json`` for a submission that could not be graded."""
    return {
        "score": 0,
        "tests": [],
        "output": "The autograder could not grade this submission. This is a problem on the course's side, "
                  f"not in your notebooks: please tell the course staff.\n\n{reason}",
    }


def grade(folder: Path, flags: list[str]) -> dict:
    """Gradescope's results for the notebooks in ``folder``, from ``python -m grader``."""
    json_path = folder.parent / "results.json"
    run = subprocess.run([sys.executable, "-m", "grader", str(folder), "--json", str(json_path), *flags],
                         capture_output=True, text=True)
    print(run.stdout, end="")
    print(run.stderr, end="", file=sys.stderr)
    if run.returncode != 0:
        raise GradingFailed(f"python -m grader exited with code {run.returncode}:\n{run.stderr[-ERROR_TAIL:]}")
    try:
        return json.loads(json_path.read_text())
    except (OSError, ValueError) as err:
        raise GradingFailed(f"python -m grader wrote no readable results ({err})") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.gradescope_run", description=__doc__.splitlines()[0])
    parser.add_argument("--submission", type=Path, required=True, help="the uploaded files (/autograder/submission)")
    parser.add_argument("--results", type=Path, required=True, help="results.json to write")
    parser.add_argument("--unsafe-no-sandbox", action="store_true", help="passed on to the grader (recorded)")
    args = parser.parse_args(argv)

    upload = collect(args.submission) if args.submission.is_dir() else Upload()
    flags = ["--unsafe-no-sandbox"] if args.unsafe_no_sandbox else []
    with tempfile.TemporaryDirectory(prefix="gradescope_") as tmp:
        folder = Path(tmp) / "submission"
        folder.mkdir()
        copy_upload(upload, folder)
        try:
            results = grade(folder, flags) | {"output": summary(upload, args.submission)}
        except GradingFailed as err:
            results = failed_results(str(err))
    write_json(args.results, results)
    print(f"\n{results['output']}\nwrote {args.results}: score {results['score']:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
