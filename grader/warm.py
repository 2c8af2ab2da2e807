"""One warm, confined submission process per part for the repository's own wrong-answer fixtures.

``WarmServer(part)`` starts ``gradebox.warm`` in one sandbox, confined as a submission is (the
same ``bwrap`` view, the part's helpers hidden), with torch and the part's imports loaded once.
``grade_part(..., warm=server.address)`` then grades with a ``WarmBox``: a ``grader.remote.Box``
whose process is a child forked by that server instead of a new interpreter (about 0.1 s instead
of about 3 s). Each child is a fresh copy of the warm process with its own pipes, scratch folder,
environment and resource limits; the judge kills, counts and watches it as it would its own.

The fixtures share one sandbox, its cgroup-free bounds and its scratch parent: that is why only
trusted code (``tests/test_wrong_answers.py``) may use it. ``grader.run`` never starts one for a
student's submission.
"""

from __future__ import annotations

import ast
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from grader import limits as bounds
from grader import sandbox
from grader.limits import SubmissionLimits
from grader.remote import Box, environment

START_SECONDS = 120  # the warm process's imports, on a busy machine


@dataclass(frozen=True)
class Address:
    """Where a judge finds a warm server: its socket, its pid (seen from outside) and its folder."""

    socket: str
    pid: int
    folder: str

    def to_text(self) -> str:
        return json.dumps([self.socket, self.pid, self.folder])

    @classmethod
    def from_text(cls, text: str) -> Address:
        return cls(*json.loads(text))


def imported_modules(cells: list[str]) -> list[str]:
    """The modules the notebook's cells import at their top level, in order (``import a.b``, ``from a import b``)."""
    names: list[str] = []
    for source in cells:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.append(node.module)
    return list(dict.fromkeys(names))


class WarmServer:
    """``gradebox.warm`` in its sandbox, serving one part; ``close()`` (or this process's exit) ends it."""

    def __init__(self, part: str, cells: list[str], limits: SubmissionLimits = SubmissionLimits()):
        self.folder = Path(tempfile.mkdtemp(prefix="warm_"))
        self.log = self.folder / "warm.log"
        hidden = sandbox.hidden_for(part)
        command = sandbox.bwrap_argv(self.folder, hidden) + [sys.executable, "-m", "gradebox.warm",
                                                              str(self.folder / "socket"), *imported_modules(cells)]
        env = {**environment(self.folder, limits.threads, int(limits.reply_mb * bounds.MiB)), "OMP_NUM_THREADS": "1"}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                         cwd=self.folder, env=env, start_new_session=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], START_SECONDS)
        if not ready or self.proc.stdout.readline() != b"ready\n":
            self.close()
            raise RuntimeError(f"the warm submission process did not start: {self.log.read_text()[-1500:]}")
        pid = self.proc.pid
        server = int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0])
        self.address = Address(str(self.folder / "socket"), server, str(self.folder))

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


class _Child:
    """A child of the warm server, as ``Box`` uses a ``subprocess.Popen``: pid, pipes, wait."""

    def __init__(self, pid: int, conn: socket.socket, stdin: int, stdout: int):
        self.pid, self.conn = pid, conn
        self.stdin, self.stdout = os.fdopen(stdin, "wb"), os.fdopen(stdout, "rb")
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int | None:
        """Its exit code, which the server sends when it has reaped it (None if the server is gone)."""
        if self.returncode is None and self.conn is not None:
            if not select.select([self.conn], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired("warm child", timeout)
            line = self.conn.makefile().readline()
            self.conn.close()
            self.conn = None
            self.returncode = json.loads(line)["exit"] if line else None
        return self.returncode


def _host_pid(server: int, inner: int) -> int:
    """The pid, seen from here, of the server's child whose pid in the sandbox is ``inner``."""
    for _ in range(100):
        for child in Path(f"/proc/{server}/task/{server}/children").read_text().split():
            try:
                status = Path(f"/proc/{child}/status").read_text()
            except OSError:
                continue
            nspid = next(line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:"))
            if int(nspid[-1]) == inner:
                return int(child)
        time.sleep(0.01)
    raise OSError(f"the warm server's child {inner} is not among its children")


class WarmBox(Box):
    """A ``Box`` whose process is forked by a ``WarmServer`` (trusted fixtures only)."""

    kernel_bounds = False  # the sandbox, tmpfs and cgroup are the server's, shared by its children

    def __init__(self, cells: list[str], limits: SubmissionLimits, address: Address):
        self.address = address
        self.scratch_parent = address.folder
        super().__init__(cells, limits)

    def _spawn(self) -> _Child:
        to_child, requests = os.pipe()  # the child reads requests from to_child
        replies, from_child = os.pipe()  # and writes replies to from_child
        log = os.open(self.log_path, os.O_WRONLY | os.O_APPEND)
        rlimits = {"RLIMIT_AS": int(self.limits.memory_gb * 2**30), "RLIMIT_CORE": 0,
                   "RLIMIT_FSIZE": int(self.limits.file_mb * 2**20)}
        request = {"env": self._environment(), "cwd": str(self.scratch), "rlimits": rlimits}
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(self.address.socket)
            socket.send_fds(conn, [json.dumps(request).encode()], [to_child, from_child, log])
            conn.settimeout(30)
            inner = json.loads(conn.makefile().readline())["pid"]
            conn.settimeout(None)
        finally:
            for fd in (to_child, from_child, log):
                os.close(fd)
        return _Child(_host_pid(self.address.pid, inner), conn, requests, replies)

    def _server_pid(self) -> int:
        return self.proc.pid
