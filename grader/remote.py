"""The judge's view of a submission: a confined process it talks to, and proxies for its objects.

``sub.generate_batch(1000, p)`` in a graded test sends the inputs to the submission's process
(``gradebox.server``, under bubblewrap), which calls the student's function and sends back the
result as data: a tensor, a number, a dict. Objects that are not data (a model, a bound method)
come back as ``Remote`` proxies, on which attribute access and calls are again requests. Nothing
the submission sends is ever executed here; a proxy has no ``__eq__``, ``__bool__`` or
``__iter__`` of the submission's, so a test must turn what it gets into data it checks
(``grader.checks.tensor``, ``number``) before comparing.

A call that raises in the submission raises ``SubmissionError`` here; a call that runs past the
test's time limit, or kills its process, gets that process killed and restarted (definitions
re-run) for the next test, so it costs only the test that made the call. So does a call that goes
past one of the bounds of ``grader.limits``: a reply too large to read (refused from its length
prefix), files beyond the scratch folder's size or count, more processes and threads than allowed,
threads or processes left running after the call, or objects whose clean-up outlasts its limit.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gradebox import wire
from grader import limits as bounds
from grader import sandbox
from grader.limits import SubmissionLimits

LOG_TAIL = 1500  # characters of the submission's output quoted when its process dies
PR_SET_PDEATHSIG = 1  # prctl option: the kernel signals the child when its parent dies


class LimitHit(Exception):
    """The submission went past a bound while the judge waited for its reply."""


class SubmissionError(Exception):
    """The submission's code raised, timed out, died or broke the connection during a call."""

    def __init__(self, message: str, kind: str = "error", what: str = ""):
        super().__init__(message)
        self.kind, self.what = kind, what

    @property
    def raised(self) -> bool:
        """The submission's code raised an exception (``kind`` is its type), rather than running out of
        time, going past a bound or losing its process."""
        return self.kind not in ("timeout", "limit", "died", "stale", "broken")

    def student_message(self) -> str:
        """What the student reads: a plain "not implemented yet" for an untouched stub."""
        if self.kind == "NotImplementedError":
            return f"not implemented yet: {self.what or 'your function'} raises NotImplementedError"
        return str(self)


class Remote:
    """A proxy for an object that lives in the submission's process."""

    __slots__ = ("_box", "_id", "_label", "_generation")

    def __init__(self, box: "Connection", id: int, label: str):
        self._box, self._id, self._label, self._generation = box, id, label, box.generation

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        label = f"{self._label}.{name}" if self._label else name
        return self._box.request({"op": "get", "obj": self, "name": name}, label)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._box.request({"op": "call", "obj": self, "args": list(args), "kwargs": kwargs}, self._label)

    def __repr__(self) -> str:
        return f"<submission's {self._label or 'notebook'}>"


def environment(scratch: Path, threads: int, reply_limit: int) -> dict[str, str]:
    """The whole environment of a submission's process whose own folder is ``scratch``."""
    from saecourse.utils import cache_dir

    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "GRADEBOX_REPLY_LIMIT": str(reply_limit), "HOME": str(scratch), "TMPDIR": str(scratch),
        "LANG": "C.UTF-8", "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(scratch / ".matplotlib"),
        "SAECOURSE_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
        "RAYON_NUM_THREADS": str(threads),  # tokenizers' pool, else one thread per core
        "SAECOURSE_CACHE": str(cache_dir()), "SAECOURSE_OUT": str(scratch / "outputs"),
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
        "TQDM_DISABLE": "1",
    }
    return env | {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")}


class Connection:
    """Requests to a submission over a pair of pipes; ``Box`` adds the process behind them."""

    skip_oversized = True  # read past a reply over the bound (1 MiB at a time) to stay in step; Box kills instead
    stopped = "; the check stopped waiting for it and failed the test (your kernel still ran the call to its end)"

    def __init__(self, fd_in: int, fd_out: int, reply_mb: float | None = None):
        self.fd_in, self.fd_out = fd_in, fd_out  # replies are read from fd_in, requests written to fd_out
        self.generation = 1
        self.deadline: float | None = None  # time.monotonic() by which the current test must finish
        self.deadline_why = "the test's time limit"  # or the part's time budget, when that ends first
        self.deadline_tag = ""  # the bound's tag when the deadline is the part's budget
        self.timed_out = False  # a call ran past its deadline: its reply may still come, so stop reading
        self.reply_limit = int((bounds.setting("reply size") if reply_mb is None else reply_mb) * bounds.MiB)
        self.json_limit = int(bounds.setting("reply structure") * bounds.MiB)
        self._scratch: Path | None = None

    def scratch_folder(self) -> Path:
        """A folder the submission may write to and the judge can read: behind a notebook's
        ``check()`` (the student's own kernel, same file system), a temporary folder made once and
        removed when the judge exits."""
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="check_"))
            atexit.register(shutil.rmtree, self._scratch, True)
        return self._scratch

    def root(self) -> Remote:
        """The notebook's namespace: ``root().generate_batch`` is the student's function."""
        return Remote(self, 0, "")

    def _exchange(self, request: dict, deadline: float | None) -> dict:
        wire.send(self.fd_out, wire.encode(request))
        self._wait(deadline)
        message = wire.receive(self.fd_in, deadline, self.reply_limit, skip=self.skip_oversized)
        reply = wire.decode(message, lambda h: h, self.json_limit)
        if not isinstance(reply, dict) or not ({"value", "error"} & set(reply)):
            raise wire.WireError("reply is not a reply")
        return reply

    def _wait(self, deadline: float | None) -> None:
        """Until the reply starts to arrive (``Box`` watches its bounds meanwhile)."""

    def _ready(self, label: str) -> None:
        """Make sure something is there to answer (``Box`` starts its process here)."""

    def _lost(self, err: BaseException, label: str) -> SubmissionError:
        return SubmissionError(f"the connection to your notebook broke during {label or 'a call'} ({err})", "died", label)

    def request(self, request: dict, label: str) -> Any:
        """Send one request; return the submission's answer as data or proxies."""
        if self.timed_out:  # the notebook is still busy with the call that ran out of time: nothing more is sent
            raise SubmissionError(f"{label or 'your code'} was not called: an earlier call of this test ran out of "
                                  f"{self.deadline_why}", "timeout", label)
        self._ready(label)
        stale = [v for v in _remotes(request) if v._id and v._generation != self.generation]
        if stale:
            raise SubmissionError(f"{stale[0]!r} belonged to your process before it was restarted", "stale", label)
        try:
            reply = self._exchange(_with_handles(request), self.deadline)
        except TimeoutError:
            self.timed_out = True
            self.kill()
            raise SubmissionError(f"{label or 'your code'} did not finish within {self.deadline_why}{self.stopped}"
                                  f"{' ' + self.deadline_tag if self.deadline_tag else ''}", "timeout", label) from None
        except wire.TooLarge as err:
            self.kill()
            raise SubmissionError(
                f"{label or 'your code'} sent {err.part if err.part != 'reply' else 'a reply'} of {bounds.size_text(err.size)}; "
                f"the grader reads at most {bounds.size_text(err.limit)}, so it was not read "
                f"{bounds.tag('reply size' if err.part == 'reply' else 'reply structure')}", "limit", label) from None
        except LimitHit as err:
            self.kill()
            raise SubmissionError(str(err), "limit", label) from None
        except (EOFError, wire.WireError, OSError) as err:
            raise self._lost(err, label) from None
        if "error" in reply:
            error = reply["error"]
            if error.get("type") == "TooLarge":  # the submission's side refused to send it
                raise SubmissionError(f"{label or 'your code'} returned more than {bounds.size_text(self.reply_limit)} of "
                                      f"tensors, the most the grader reads; it was not sent {bounds.tag('reply size')}",
                                      "limit", label)
            raise SubmissionError(
                f"{label} raised {error.get('type')}: {error.get('message')}\n{error.get('traceback', '')}".strip(),
                str(error.get("type")), label)
        return _proxies(self, reply["value"], label)

    def kill(self) -> None:
        """Nothing to kill: the other side is the student's own notebook."""

    def end_test(self) -> str | None:
        """After a test: its deadline cleared. ``Box`` also checks the bounds a call cannot fail and says
        what the submission did past them."""
        self.deadline, self.deadline_why, self.deadline_tag = None, "the test's time limit", ""
        return None


class Box(Connection):
    """The submission's confined process: started on demand, restarted after it dies or times out."""

    skip_oversized = False
    stopped = " and was stopped"
    scratch_parent: str | None = None  # where its scratch folder is made (None: the temporary folder)
    kernel_bounds = True  # a capped tmpfs and a cgroup of its own, where the kernel allows (as root)

    def __init__(self, cells: list[str], limits: SubmissionLimits | None = None):
        limits = SubmissionLimits() if limits is None else limits
        super().__init__(-1, -1, limits.reply_mb)
        self.cells, self.limits = cells, limits
        self.generation = 0
        self.scratch = Path(tempfile.mkdtemp(prefix="submission_", dir=self.scratch_parent))
        self.log_path = Path(tempfile.mkstemp(prefix="submission_log_")[1])
        self.proc: subprocess.Popen | None = None
        self.load_errors: list[str] = []
        self.broken: str | None = None  # set when the definitions themselves cannot run
        self.disk = (int(limits.disk_mb * bounds.MiB), int(limits.files))
        # As root: the kernel bounds the scratch folder (a capped tmpfs) and the process (a cgroup).
        kernel = limits.confined and self.kernel_bounds
        self.mounted = kernel and bounds.mount_scratch(self.scratch, *self.disk)
        self.cgroup = bounds.Cgroup.create(int(limits.memory_gb * bounds.GiB), limits.processes) if kernel else None
        self._nproc: int | None = None  # the rlimit stand-in for the cgroup, counted at each start
        self._polled = 0.0

    def scratch_folder(self) -> Path:
        return self.scratch

    def _command(self) -> list[str]:
        server = [sys.executable, "-m", "gradebox.server"]
        return (sandbox.bwrap_argv(self.scratch, list(self.limits.hidden)) if self.limits.confined else []) + server

    def _environment(self) -> dict[str, str]:
        return environment(self.scratch, self.limits.threads, self.reply_limit)

    def _limit(self) -> None:
        """In the child before exec: its cgroup or rlimits, and die when the judge dies."""
        memory = int(self.limits.memory_gb * 2**30)
        file_size = int(self.limits.file_mb * bounds.MiB)
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if self.cgroup is not None:
            self.cgroup.join()
        else:  # counts every process and thread of this user (root is exempt: hence the cgroup)
            resource.setrlimit(resource.RLIMIT_NPROC, (self._nproc, self._nproc))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails instead of killing
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    def start(self) -> None:
        """Start the process and run the notebook's definition cells in it."""
        self.generation += 1
        if self.cgroup is None:  # RLIMIT_NPROC counts every task of this user, so count them now
            self._nproc = self.limits.processes + bounds.tasks_of(os.getuid())
        self.proc = self._spawn()
        self.fd_in, self.fd_out = self.proc.stdout.fileno(), self.proc.stdin.fileno()
        deadline = time.monotonic() + self.limits.load_seconds
        try:
            self.load_errors = self._exchange({"op": "load", "cells": self.cells}, deadline)["value"]
        except TimeoutError:
            self.broken = f"your notebook's definition cells took longer than {self.limits.load_seconds:.0f} s to run"
        except LimitHit as err:
            self.broken = f"while your notebook's definition cells ran: {err}"
        except (EOFError, wire.WireError, OSError) as err:
            self.broken = f"your notebook's definition cells ended the grading process ({self._death(err)})"
        if self.broken:
            self.kill()

    def _spawn(self) -> subprocess.Popen:
        """A new confined process running ``gradebox.server``, its stdin and stdout the pipes to it."""
        with self.log_path.open("ab") as log:
            return subprocess.Popen(self._command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                    cwd=self.scratch, env=self._environment(), start_new_session=True,
                                    preexec_fn=self._limit)

    def _server_pid(self) -> int:
        """The pid of the process running ``gradebox.server`` (bwrap's only child when confined)."""
        pid = self.proc.pid
        return int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0]) if self.limits.confined else pid

    def _ready(self, label: str) -> None:
        if self.proc is None and not self.broken:
            self.start()
        if self.broken:
            raise SubmissionError(self.broken, "broken", label)

    def _lost(self, err: BaseException, label: str) -> SubmissionError:
        reason = self._death(err)
        self.kill()
        return SubmissionError(f"the process running your code died during {label or 'a call'} ({reason})", "died", label)

    def _wait(self, deadline: float | None) -> None:
        """While the submission computes, count its threads and (without a capped tmpfs) measure
        its scratch folder, every ``SCRATCH_POLL_SECONDS``."""
        while True:
            now = time.monotonic()
            if now - self._polled >= bounds.SCRATCH_POLL_SECONDS:
                self._polled = now
                if (threads := self._threads()) > self.limits.threads_at_once:
                    raise LimitHit(f"your code ran {threads} threads at once; at most {self.limits.threads_at_once} may run "
                                   f"at once, so the process was restarted {bounds.tag('threads at once')}")
                if not self.mounted and self.limits.confined and (problem := self._disk_problem()):
                    raise LimitHit(problem)
            slice_ = bounds.SCRATCH_POLL_SECONDS if deadline is None else min(bounds.SCRATCH_POLL_SECONDS, deadline - now)
            if slice_ <= 0 or select.select([self.fd_in], [], [], slice_)[0]:
                return

    def _threads(self) -> int:
        """Threads of the submission's server process (bwrap's child when confined) now."""
        if self.proc is None:
            return 0
        try:
            pid = self._server_pid()
            return len(os.listdir(f"/proc/{pid}/task"))
        except (OSError, IndexError, ValueError):
            return 0

    def _disk_problem(self) -> str | None:
        size, count = bounds.scratch_usage(self.scratch, self.mounted, self.disk)
        if size > self.disk[0]:
            return (f"your code wrote more than {bounds.size_text(self.disk[0])} into its folder; "
                    f"the files were removed {bounds.tag('disk')}")
        if count > self.disk[1]:
            return f"your code made more than {self.disk[1]} files and folders in its folder; they were removed {bounds.tag('files')}"
        return None

    def kill(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                stream.close()
            self.proc = None
        if self.cgroup is not None:
            self.cgroup.clear()  # the next start begins with none of this one's tasks counted

    def close(self) -> None:
        self.kill()
        if self.cgroup is not None:
            self.cgroup.remove()
        if self.mounted:
            bounds.unmount(self.scratch)
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)

    def _death(self, err: BaseException) -> str:
        code = None
        if self.proc is not None:
            try:
                code = self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        how = f"exit code {code}" if code is not None and code >= 0 else f"signal {-code}" if code else str(err)
        if self.cgroup is not None and self.cgroup.new_events()["oom"]:
            how += (f": it used more than the {self.limits.memory_gb:g} GiB of memory it may use, files in its "
                    f"folder included {bounds.tag('memory')}")
        tail = self.log_path.read_text(errors="replace")[-LOG_TAIL:].strip()
        return how + (f"; last output:\n{tail}" if tail else "")

    def end_test(self) -> str | None:
        """Forget the test's objects, kill processes the submission left behind, and check the
        bounds it could have gone past without failing a call; say what it did, if anything."""
        self.timed_out = False  # the next test calls again (a process that timed out was killed and restarts)
        super().end_test()
        problems = []
        if self.limits.confined and (disk := self._disk_problem()):
            problems.append(disk)
            self.kill()  # deleted files that are still open stay allocated until their process ends
            bounds.clear_folder(self.scratch)
        if self.cgroup is not None and self.cgroup.new_events()["pids"]:
            problems.append(f"your code tried to run more than {self.limits.processes} processes and threads at once; "
                            f"the extra ones could not start {bounds.tag('processes')}")
        if self.proc is None:
            return "; ".join(problems) or None
        try:
            strays = _descendants(self._server_pid())
        except (OSError, IndexError, ValueError):  # the server itself is gone
            strays = []
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if strays:
            problems.append(f"your code left {len(strays)} process(es) running after the call returned; they were killed")
        try:
            after = self._exchange({"op": "reset"}, time.monotonic() + self.limits.cleanup_seconds).get("value")
        except TimeoutError:
            self.kill()
            problems.append(f"dropping the objects of this test took longer than {self.limits.cleanup_seconds:g} s "
                            f"(a slow __del__?); the process was restarted {bounds.tag('cleanup')}")
        except (EOFError, wire.WireError, OSError):
            self.kill()
        else:
            after = after if isinstance(after, dict) else {}
            if after.get("thread_out_of_memory"):
                problems.append(f"a thread of your code ran out of memory (MemoryError): the process may use "
                                f"{self.limits.memory_gb:g} GiB {bounds.tag('memory')}")
            if isinstance(threads := after.get("threads"), int) and threads > self.limits.leftover_threads:
                self.kill()
                problems.append(f"your code left {threads} thread(s) running after the call returned; the process "
                                f"was restarted {bounds.tag('threads')}")
        return "; ".join(problems) or None


def connection(proxy: Remote) -> Connection:
    """The connection ``proxy``'s requests go through (a proxy's own attributes are the submission's)."""
    return proxy._box


def _remotes(value: Any) -> list[Remote]:
    if isinstance(value, Remote):
        return [value]
    if isinstance(value, (list, tuple)):
        return [r for v in value for r in _remotes(v)]
    if isinstance(value, dict):
        return [r for k, v in value.items() for r in _remotes(k) + _remotes(v)]
    return []


def _with_handles(value: Any) -> Any:
    """``value`` with every proxy replaced by the handle it stands for."""
    if isinstance(value, Remote):
        return wire.Handle(value._id)
    if isinstance(value, (list, tuple)):
        return type(value)(_with_handles(v) for v in value)
    if isinstance(value, dict):
        return {_with_handles(k): _with_handles(v) for k, v in value.items()}
    return value


def _proxies(box: Connection, value: Any, label: str) -> Any:
    """``value`` with every handle the submission sent replaced by a proxy."""
    if isinstance(value, wire.Handle):
        return Remote(box, value.id, label)
    if isinstance(value, (list, tuple)):
        return type(value)(_proxies(box, v, label) for v in value)
    if isinstance(value, dict):
        return {k: _proxies(box, v, label) for k, v in value.items()}
    return value


def _descendants(pid: int) -> list[int]:
    """Live processes below ``pid`` (zombies excluded)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, stack = [], list(children.get(pid, []))
    while stack:
        p = stack.pop()
        found.append(p)
        stack.extend(children.get(p, []))
    return found

