"""Subprocess entry point: judge one submission file for one part with pytest.

Run by ``grader.run``, never by hand. This process is the judge (it holds the reference and the
answer key); the submission's code runs in a confined process that ``grader.plugin`` starts.
"""

from __future__ import annotations

import argparse
import sys

import pytest

from grader.framework import tests_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", required=True)
    parser.add_argument("--submission", required=True)
    parser.add_argument("--results", required=True)
    parser.add_argument("--limits", required=True, help="grader.limits.Limits as JSON (Limits.to_json)")
    parser.add_argument("-k", dest="keyword", default=None)
    parser.add_argument("--warm", default=None, help="a warm server's grader.warm.Address (the repository's fixtures)")
    args = parser.parse_args(argv)

    from grader import limits

    if limits.Limits.from_json(args.limits).confined:
        limits.private_mounts()  # as root: the scratch tmpfs lives and dies with this judge
    from saecourse.utils import set_threads

    set_threads(1)
    # Every graded assert carries its own message, so pytest's assertion rewriting (0.5 s of parsing
    # per judge) adds nothing; its unraisable-exception plugin collects garbage twice (0.7 s).
    pytest_args = [
        str(tests_file(args.part)), "-p", "grader.plugin", "-q", "--capture=no", "--tb=short",
        "-p", "no:cacheprovider", "-p", "no:unraisableexception", "--assert=plain", "-o", "timeout_method=signal", "-o", "addopts=", "--rootdir", "/",
        "-c", "/dev/null", "--submission", args.submission, "--results", args.results, "--part", args.part,
        "--limits", args.limits,
    ]
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    if args.warm:
        pytest_args += ["--warm", args.warm]
    pytest.main(pytest_args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
