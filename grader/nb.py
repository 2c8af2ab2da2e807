"""Run graded tests from inside a notebook: ``check = checker("part1"); check("test_x")``."""

from __future__ import annotations

import sys
from typing import Callable

from grader.framework import Namespace, part_name, reference, tests_module


def checker(part: str | int) -> Callable[[str], None]:
    """A ``check(test_name)`` function that grades the calling notebook's current definitions."""
    part = part_name(part)

    def check(test_name: str) -> None:
        test = getattr(tests_module(part), test_name)
        test(sub=Namespace(sys._getframe(1).f_globals), ref=reference(part))
        print(f"\N{CHECK MARK} {test_name} passed ({test.points:g} points)")

    return check
