"""The submission's side of grading: what runs next to the student's code, and nothing else.

``wire`` (the data format), ``server`` (runs a notebook's definitions and answers the judge's
calls) and ``checker``, which a notebook uses for its ``check("test_x")`` cells: the test runs in
a separate judge process (``python -m grader.judge``) that calls back into this notebook for the
student's outputs; expected values never enter the notebook.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Callable

from gradebox import wire
from gradebox.server import Server


class CheckFailed(AssertionError):
    """A visible test failed; the message names the likely mistake."""


def checker(part: str) -> Callable[[str], None]:
    """A ``check(test_name)`` function that grades the calling notebook's current definitions."""
    judge: subprocess.Popen | None = None

    def check(test_name: str) -> None:
        nonlocal judge
        if judge is None or judge.poll() is not None:
            judge = subprocess.Popen([sys.executable, "-m", "grader.judge", part],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        server = Server(sys._getframe(1).f_globals)
        to_judge, from_judge = judge.stdin.fileno(), judge.stdout.fileno()
        wire.send(to_judge, wire.encode({"op": "check", "test": test_name}))
        while (request := wire.decode(wire.receive(from_judge), server.resolve)).get("op") != "verdict":
            reply = server.reply(request)
            try:
                wire.send(to_judge, reply)
            except BrokenPipeError:  # the judge stopped waiting (the test's time limit): its verdict is sent
                continue
        if request.get("final"):  # the judge gave up on a call and exits: the next check starts a new one
            judge.stdin.close()
            judge.wait()
            judge.stdout.close()
            judge = None
        if not request["passed"]:
            raise CheckFailed(f"{test_name} failed: {request['message']}")
        print(f"\N{CHECK MARK} {test_name} passed ({request['points']:g} points)")

    return check
