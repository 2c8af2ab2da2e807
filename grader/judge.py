"""``python -m grader.judge PART``: the judge behind a notebook's ``check("test_x")``.

Started by ``gradebox.checker`` with the RPC on its stdin/stdout. For each ``{"op": "check",
"test": name}`` it runs that graded test here, with ``sub`` a proxy for the notebook that asked
(which answers the test's calls while it waits) and ``ref`` the reference (in the student release,
its recorded answers: ``grader.replay``), then sends
``{"op": "verdict", "passed": bool, "message": str, "points": float}``. The notebook's process
never receives the reference or an expected value, only the test's inputs and the verdict.
"""

from __future__ import annotations

import os
import sys
import traceback

from gradebox import wire
from grader import replay
from grader.framework import has_reference, part_name, reference, start_test, tests_module
from grader.plugin import OUTPUT_CAP, failure_message
from grader.remote import Connection


def verdict(connection: Connection, part: str, test_name: str) -> dict:
    """Run one graded test against the notebook on the other end of ``connection``."""
    test = getattr(tests_module(part), test_name, None)
    if test is None or not hasattr(test, "points"):
        return {"passed": False, "message": f"{part} has no graded test called {test_name!r}", "points": 0}
    sub = connection.root()
    try:
        ref = reference(part) if has_reference(part) else replay.replayed(part, sub, test)
        start_test(sub)
        test(sub=sub, ref=ref)
        return {"passed": True, "message": "", "points": test.points}
    except Exception as err:  # noqa: BLE001 - any failure of the test is the submission's result
        message = failure_message(err) or traceback.format_exc(limit=-2 if isinstance(err, AssertionError) else -3)
    return {"passed": False, "message": message[:OUTPUT_CAP], "points": test.points}


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
        connection.generation += 1  # proxies of this test are not valid in the next


if __name__ == "__main__":
    sys.exit(main())
