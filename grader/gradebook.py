"""``python -m grader.gradebook SUBMISSIONS_DIR [--out DIR] [--jobs N]``: grade a whole class.

Every sub-folder of SUBMISSIONS_DIR is one submission. Writes ``OUT/<submission>/results.json``
(Gradescope shape) and ``OUT/gradebook.csv``: one row per submission, one column per part, total,
and ``limits_hit``: which bounds of ``grader.limits`` the submission went past, in which tests.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

from grader import sandbox
from grader.framework import parts
from grader.run import Limits, PartResult, grade_submission, gradescope_json, provenance


def limits_hit(results: list[PartResult]) -> str:
    """``bound: part::test, ...; bound: ...`` for every bound a test's output says it hit."""
    found: dict[str, list[str]] = {}
    for r in results:
        for t in r.tests:
            for name in t.limits:
                found.setdefault(name, []).append(f"{r.part}::{t.name}")
    return "; ".join(f"{name}: {', '.join(tests)}" for name, tests in found.items())


def write_gradebook(rows: dict[str, list[PartResult]], path: Path, limits: Limits = Limits()) -> None:
    """One row per submission, one column per part, then total, maximum, the bounds it hit and
    what graded it."""
    names = parts()
    about = provenance(limits)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", *names, "total", "max_total", "limits_hit", *about])
        for submission, results in sorted(rows.items()):
            by_part = {r.part: r for r in results}
            scores = [by_part[p].score for p in names]
            writer.writerow([submission, *(f"{s:g}" for s in scores), f"{sum(scores):g}",
                             f"{sum(by_part[p].max_score for p in names):g}", limits_hit(results), *about.values()])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.gradebook", description=__doc__.splitlines()[0])
    parser.add_argument("submissions", type=Path)
    parser.add_argument("--out", type=Path, default=Path("grades"))
    parser.add_argument("--jobs", type=int, default=2, help="submissions graded side by side")
    parser.add_argument("-k", dest="keyword", help="only tests matching this pytest -k expression (e.g. a regrade)")
    parser.add_argument("--unsafe-no-sandbox", action="store_true", help="grade without confinement (recorded)")
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        print(f"error: {args.submissions} is not a folder", file=sys.stderr)
        return 2
    # Side by side, the submission is the unit of work: each grades its parts one at a time (two
    # submissions x two parts at once put four processes on two cores: 19.4 s per submission of
    # Parts 1-2 against 16.0 s, measured on 8-20 submissions).
    limits = Limits(confined=not args.unsafe_no_sandbox, **({"part_jobs": 1} if args.jobs > 1 else {}))
    if limits.confined and (reason := sandbox.unavailable_reason()):
        print(f"error: refusing to grade without confinement: {reason}", file=sys.stderr)
        return 2
    folders = sorted(p for p in args.submissions.iterdir() if p.is_dir())
    rows: dict[str, list[PartResult]] = {}
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        graded = pool.map(lambda folder: grade_submission(folder, limits=limits, keyword=args.keyword), folders)
        for folder, results in tqdm(zip(folders, graded), total=len(folders),
                                    desc="grading", unit="submission"):
            rows[folder.name] = results
            (args.out / folder.name).mkdir(parents=True, exist_ok=True)
            (args.out / folder.name / "results.json").write_text(json.dumps(gradescope_json(results, limits), indent=2))
    write_gradebook(rows, args.out / "gradebook.csv", limits)
    print(f"graded {len(rows)} submissions -> {args.out / 'gradebook.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
