"""Subprocess entry point: grade one submission file for one part with pytest.

Run by ``grader.run``, never by hand; it is the unit of isolation (time, memory, crashes).
"""

from __future__ import annotations

import argparse
import io
import sys

import pytest

from grader.framework import tests_file

OUTPUT_CAP = 100_000  # characters of stdout/stderr a submission may print in total


class CappedStream(io.TextIOBase):
    """A text stream that passes the first ``cap`` characters through and drops the rest."""

    def __init__(self, target: io.TextIOBase, cap: int):
        self.target, self.left = target, cap

    def write(self, text: str) -> int:
        if self.left > 0:
            kept = text[: self.left]
            self.left -= len(kept)
            self.target.write(kept if self.left > 0 else kept + "\n[output truncated]\n")
            self.target.flush()
        return len(text)

    def flush(self) -> None:
        self.target.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", required=True)
    parser.add_argument("--submission", required=True)
    parser.add_argument("--results", required=True)
    parser.add_argument("-k", dest="keyword", default=None)
    args = parser.parse_args(argv)

    from saecourse.utils import set_threads

    set_threads()
    sys.stdout = CappedStream(sys.stdout, OUTPUT_CAP)
    sys.stderr = CappedStream(sys.stderr, OUTPUT_CAP)
    pytest_args = [
        str(tests_file(args.part)), "-p", "grader.plugin", "-q", "--capture=no", "--tb=short",
        "-p", "no:cacheprovider", "-o", "timeout_method=signal", "-o", "addopts=", "--rootdir", "/",
        "-c", "/dev/null", "--submission", args.submission, "--results", args.results, "--part", args.part,
    ]
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    pytest.main(pytest_args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
