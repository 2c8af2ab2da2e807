"""A warm submission process for the course's own wrong-answer fixtures: it imports torch and the
part's modules once, inside one sandbox, and forks a fresh ``gradebox.server`` for each fixture.

A new submission process spends about 3 s importing torch (and transformers, and torch's optimizer
machinery) before it runs a line of the notebook; the repository's 175 wrong-answer fixtures paid
that each. They are trusted code (the reference with one planted mistake), so many may share one
sandbox: ``grader.warm.WarmServer`` starts this process confined exactly as a submission's
(``grader.sandbox.bwrap_argv``, the part's hidden helpers), and ``grader.warm.WarmBox`` asks it for
a child per fixture. Students' submissions never come here: each keeps its own sandbox.

Protocol on the listening socket: the judge connects and sends one JSON line
``{"env": {...}, "cwd": s, "rlimits": {"RLIMIT_AS": n, ...}}`` with three file descriptors (the
child's request pipe, its reply pipe and its log); the server forks, answers ``{"pid": n}`` (the
child's pid in the sandbox) and, when the child ends, ``{"exit": code}`` on the same connection.

    python -m gradebox.warm SOCKET MODULE...   (started by grader.warm, never by hand)
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import resource
import select
import signal
import socket
import sys
import tempfile

PR_SET_PDEATHSIG = 1  # prctl option: the kernel signals the child when its parent dies
READY = b"ready\n"


def _warm(modules: list[str]) -> None:
    """Import what the part's notebook imports (a module it may not see fails here as it would there)."""
    import torch  # noqa: F401
    import torch._dynamo  # noqa: F401  (imported by the first optimizer a notebook builds: 2 s)

    from gradebox import server  # noqa: F401

    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - hidden from this part, or broken: the child finds out itself
            pass


def _child(fds: list[int], request: dict) -> None:
    """In the forked child: become the submission's server on the judge's pipes, with its limits."""
    os.setsid()  # its own process group: the judge kills the group (seen from outside, its pid)
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails instead of killing
    for name, value in request["rlimits"].items():
        resource.setrlimit(getattr(resource, name), (value, value))
    for fd, target in zip(fds, (0, 1, 2)):
        os.dup2(fd, target)
        os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # found again from the child's own TMPDIR
    os.chdir(request["cwd"])
    from gradebox import server

    server.main()


def report_exits(waiting: dict[int, socket.socket]) -> None:
    """Tell each ended child's client its exit code, on the connection that asked for it (also
    ``grader.forkserver``'s); collect other children too (orphans of the submission's, in a sandbox)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if (conn := waiting.pop(pid, None)) is not None:
            try:
                conn.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
            except OSError:
                pass
            conn.close()


def serve(path: str, modules: list[str]) -> None:
    """Fork a submission server for each request until the process that started this one is gone."""
    _warm(modules)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    os.write(1, READY)
    waiting: dict[int, socket.socket] = {}  # child pid -> the judge's connection that asked for it
    while True:
        readable, _, _ = select.select([0, listener], [], [], 0.05)
        if 0 in readable and not os.read(0, 1):
            break  # the test process that started us is gone
        if listener in readable:
            conn, _ = listener.accept()
            conn.settimeout(10)
            try:
                message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
                request = json.loads(message)
            except (OSError, ValueError):
                conn.close()
                continue
            pid = os.fork()
            if pid == 0:
                listener.close()
                for other in [*waiting.values(), conn]:
                    other.close()
                _child(fds, request)
            for fd in fds:
                os.close(fd)
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
            waiting[pid] = conn
        report_exits(waiting)


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2:])
