"""``python -m grader SUBMISSION_DIR [--part N] [--json PATH]``: grade one submission folder.

Prints a per-test table and ``TOTAL: x / y``; exits 0 even when points are lost, and non-zero
only when it could not grade (no such folder, unknown part).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grader.framework import part_name
from grader.run import Limits, SandboxUnavailable, grade_submission, gradescope_json, table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__.splitlines()[0])
    parser.add_argument("submission", type=Path, help="folder holding partN_*.py or partN_*.ipynb files")
    parser.add_argument("--part", action="append", help="grade only this part (number or name); repeatable")
    parser.add_argument("--json", type=Path, help="write Gradescope-style results.json here")
    parser.add_argument("-k", dest="keyword", help="only tests matching this pytest -k expression")
    parser.add_argument("--timeout", type=float, help="wall-clock seconds allowed per part")
    parser.add_argument("--unsafe-no-sandbox", action="store_true",
                        help="grade without confining the submission (it could read the reference); recorded in the results")
    args = parser.parse_args(argv)

    if not args.submission.is_dir():
        print(f"error: {args.submission} is not a folder", file=sys.stderr)
        return 2
    try:
        only = [part_name(p) for p in args.part] if args.part else None
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    limits = Limits(confined=not args.unsafe_no_sandbox)
    if args.timeout:
        limits.wall_seconds = args.timeout
    try:
        results = grade_submission(args.submission, only, limits, args.keyword)
    except SandboxUnavailable as err:
        print(f"error: refusing to grade without confinement: {err}", file=sys.stderr)
        return 2
    print(table(results))
    if not limits.confined:
        print("WARNING: graded without a sandbox (--unsafe-no-sandbox); the results record it")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(gradescope_json(results, limits), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
