"""``python -m grader.judge PART``: the judge behind a notebook's ``check("test_x")``.

Started by ``gradebox.checker`` with the RPC on its stdin/stdout. For each ``{"op": "check",
"test": name}`` it runs that graded test here through ``grader.runner.run`` (as the grader does),
with ``sub`` a proxy for the notebook that asked (which answers the test's calls while it waits)
and ``ref`` the reference (in the student release, its recorded answers: ``grader.replay``), then
sends ``{"op": "verdict", "passed": bool, "message": str, "points": float, "final": bool}``. The notebook's process
never receives the reference or an expected value, only the test's inputs and the verdict.

A call that runs past the test's time limit gets a failing verdict at once; the student's kernel
is still computing it, so its reply would arrive out of step: the verdict says ``final``, the judge
exits, and the next ``check()`` starts a new one.
"""

from __future__ import annotations

import os
import sys

from gradebox import wire
from grader import replay, runner
from grader.framework import has_reference, part_name, reference, tests_module
from grader.remote import Connection


def verdict(connection: Connection, part: str, test_name: str) -> dict:
    """Run one graded test against the notebook on the other end of ``connection``."""
    test = getattr(tests_module(part), test_name, None)
    if test is None or not hasattr(test, "points"):
        return {"passed": False, "message": f"{part} has no graded test called {test_name!r}", "points": 0}
    sub = connection.root()
    try:
        ref = reference(part) if has_reference(part) else replay.replayed(part, sub, test)
    except Exception as err:  # noqa: BLE001 - the course's side failed: say so in the verdict, keep serving
        return {"passed": False, "message": f"the judge could not load {part}'s reference: {runner.failure_text(err)}",
                "points": test.points}
    result = runner.TestResult(test_name, part, test.points, test.visible, runner.run(test, sub, ref, connection))
    return {"passed": result.passed, "message": result.output, "points": test.points, "final": connection.timed_out}


def main(argv: list[str] | None = None) -> int:
    part = part_name((argv or sys.argv[1:])[0])
    fd_in, fd_out = os.dup(0), os.dup(1)
    os.dup2(2, 1)  # anything printed here goes to stderr, never into the connection
    connection = Connection(fd_in, fd_out)
    while True:
        try:
            request = wire.decode(wire.receive(fd_in))
        except (EOFError, KeyboardInterrupt):  # the notebook's kernel ended (or was interrupted)
            return 0
        wire.send(fd_out, wire.encode({"op": "verdict", **verdict(connection, part, request["test"])}))
        if connection.timed_out:  # the late reply would be read as the next test's: a new judge reads the next
            return 0
        connection.generation += 1  # proxies of this test are not valid in the next


if __name__ == "__main__":
    sys.exit(main())
