"""Judges forked from a warm process: torch, pytest, the graded tests and the reference solutions
are imported once, and each part gets a fresh copy of that process instead of a new interpreter.

Starting a judge from nothing costs about 4 s of CPU here (importing torch alone takes 2.5 s), for
every part of every submission; a fork costs a few milliseconds. ``grade_part`` asks the server
for a judge; the forked judge runs ``grader.worker`` exactly as the subprocess would, in its own
session (so a timeout kills it and everything it started), with the request's working folder,
environment and log file.

The server only imports trusted code (it never starts a submission's process or runs a test), and
runs with one OpenMP thread, so no thread pool exists when it forks. It serves the process that
started it and exits when that process goes away (its stdin closes). ``GRADER_FORKSERVER=0``
turns it off: every judge is then a new interpreter, as before.

    python -m grader.forkserver SOCKET   (started by ``judge()``, never by hand)
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from gradebox.warm import report_exits

READY = b"ready\n"
START_SECONDS = 120  # the server's imports, on a busy machine


# --------------------------------------------------------------------------------------------------
# The client side: used by grader.run


class _Client:
    """The server this process started (one per process, shared by its threads)."""

    def __init__(self, env: dict[str, str]):
        self.folder = Path(tempfile.mkdtemp(prefix="judges_"))
        atexit.register(shutil.rmtree, self.folder, True)
        self.socket = str(self.folder / "socket")
        self.proc = subprocess.Popen([sys.executable, "-m", "grader.forkserver", self.socket], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env={**env, "OMP_NUM_THREADS": "1", "TMPDIR": tempfile.gettempdir()},
                                     start_new_session=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], START_SECONDS)
        if not ready or self.proc.stdout.readline() != READY:
            self.proc.kill()
            raise RuntimeError("the judge server did not start")

    def alive(self) -> bool:
        return self.proc.poll() is None


_client: _Client | None = None
_lock = threading.Lock()


def enabled() -> bool:
    return os.environ.get("GRADER_FORKSERVER", "1") != "0"


def _server(env: dict[str, str]) -> _Client | None:
    global _client
    with _lock:
        if _client is None or not _client.alive():
            try:
                _client = _Client(env)
            except (OSError, RuntimeError):
                _client = None
        return _client


def _read_line(conn: socket.socket, deadline: float | None) -> dict | None:
    """One JSON line from ``conn``, or None if it closes or ``deadline`` passes."""
    data = b""
    while not data.endswith(b"\n"):
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        conn.settimeout(timeout)
        try:
            chunk = conn.recv(4096)
        except (socket.timeout, OSError):
            return None
        if not chunk:
            return None
        data += chunk
    return json.loads(data)


def judge(argv: list[str], cwd: str, log: Path, env: dict[str, str], timeout: float) -> str | None:
    """Run ``grader.worker`` with ``argv`` in a judge forked from the server; wait at most ``timeout``
    seconds. Returns why it ended (as ``grade_part`` reports it), or None if no server could be used
    (the caller then starts the judge as a subprocess)."""
    client = _server(env)
    if client is None:
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        try:
            conn.connect(client.socket)
            conn.sendall(json.dumps({"argv": argv, "cwd": cwd, "log": str(log), "env": env}).encode() + b"\n")
        except OSError:
            return None
        started = _read_line(conn, time.monotonic() + START_SECONDS)
        if not started:
            return None
        pid = started["pid"]
        ended = _read_line(conn, time.monotonic() + timeout)
        try:
            os.killpg(pid, signal.SIGKILL)  # a timeout, or processes the judge left behind
        except (ProcessLookupError, PermissionError):
            pass
        if ended is None:
            _read_line(conn, time.monotonic() + 10)  # the server reaps it
            return f"the part took longer than {timeout:.0f} s and was stopped"
        return f"the grading process ended with exit code {ended['exit']}"


# --------------------------------------------------------------------------------------------------
# The server side


def _warm() -> None:
    """Import what every judge needs, once (trusted code only; nothing runs a test)."""
    import pytest  # noqa: F401
    import torch  # noqa: F401
    import torch._dynamo  # noqa: F401  (imported by the first optimizer any judge builds: 2 s)
    from transformers import GPT2LMHeadModel, LlamaForCausalLM  # noqa: F401  (3-4 s, for the graders that build models)

    import grader.plugin  # noqa: F401
    import grader.worker  # noqa: F401
    from grader import sandbox
    from grader.framework import parts, reference, tests_module
    from saecourse import corpus

    corpus.get_split("train")  # the documents, read once (activation cache keys need them)

    for part in parts():
        tests_module(part)
        reference(part)
        sandbox.hidden_for(part)  # parses the helper modules once for every judge


def _run_judge(request: dict) -> None:
    """In the forked child: become the judge ``grader.worker`` would have been."""
    os.setsid()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # found again from the request's TMPDIR (the part's own temporary folder)
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0), os.dup2(log, 1), os.dup2(log, 2)
    code = 1
    try:
        from grader import worker

        code = worker.main(request["argv"])
    except BaseException as err:  # noqa: BLE001 - reported in the log; the exit code says it failed
        print(f"judge failed: {err!r}", flush=True)
    finally:
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 1)


def serve(path: str) -> None:
    _warm()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    sys.stdout.buffer.write(READY)
    sys.stdout.flush()
    waiting: dict[int, socket.socket] = {}  # judge pid -> the connection that asked for it
    pending: dict[socket.socket, bytes] = {}  # connections whose request is still arriving
    while True:
        readable, _, _ = select.select([sys.stdin, listener, *pending], [], [], 0.05)
        if sys.stdin in readable and not os.read(sys.stdin.fileno(), 1):
            break  # the process that started us is gone
        if listener in readable:
            conn, _ = listener.accept()
            pending[conn] = b""
        for conn in [c for c in readable if c in pending]:
            chunk = conn.recv(1 << 20)
            pending[conn] += chunk
            if not chunk or pending[conn].endswith(b"\n"):
                data = pending.pop(conn)
                if not chunk:
                    conn.close()
                    continue
                request = json.loads(data)
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    for other in [*pending, *waiting.values(), conn]:
                        other.close()
                    _run_judge(request)
                conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
                waiting[pid] = conn
        report_exits(waiting)
    for pid in waiting:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


if __name__ == "__main__":
    serve(sys.argv[1])
