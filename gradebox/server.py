"""The submission's side of grading: run the notebook's definitions, then answer the judge's calls.

``python -m gradebox.server`` runs inside the sandbox with the RPC on its stdin/stdout. It never
sees an expected value: the judge sends inputs ("call ``generate_batch`` with these tensors"), and
this loop sends back what the submission's code returned, as data (see ``gradebox.wire``).
Anything the submission's code raises, including ``SystemExit`` and ``KeyboardInterrupt``, is
reported to the judge as that call's error and the loop goes on.

Requests (dicts): ``{"op": "load", "cells": [source, ...]}``, ``{"op": "get", "obj": h, "name": s}``,
``{"op": "call", "obj": h, "args": [...], "kwargs": {...}}``, ``{"op": "import", "module": s}``,
``{"op": "reset"}`` (forget the handles of the last test; answers how many other threads still
run, and whether one ran out of memory). Handle 0 is the notebook's namespace.
Replies: ``{"value": v}`` or ``{"error": {"type": s, "message": s, "traceback": s}}``.
"""

from __future__ import annotations

import importlib
import io
import linecache
import os
import sys
import threading
import time
import traceback
import types
from typing import Any

from gradebox import wire

OUTPUT_CAP = 20_000  # characters the submission may print in total (the rest is dropped)
TRACEBACK_CAP = 2_000
NAMESPACE = object()  # what handle 0 stands for: the notebook's globals
# The most the judge reads of one reply (it checks that itself): a larger one is refused here,
# before its tensors are copied, and reported as an error of type TooLarge.
REPLY_LIMIT = wire.MAX_MESSAGE  # main() reads GRADEBOX_REPLY_LIMIT (a warm parent may import this module first)
THREAD_ERRORS: list[str] = []  # what ended the submission's threads since the last reset


def _reap() -> None:
    """Collect the exit of children that have ended (in the sandbox this process is pid 1, so the
    orphans of the submission's forks are its children too): a zombie still counts as a task."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _thread_ended(args) -> None:
    """``threading.excepthook``: note what ended a thread (a MemoryError is the memory bound)."""
    THREAD_ERRORS.append(args.exc_type.__name__)
    threading.__excepthook__(args)


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


def run_cells(cells: list[str], namespace: dict, label: str = "definition cell") -> list[str]:
    """Execute each cell's source in ``namespace``; a cell that raises is recorded and skipped,
    so one broken exercise costs only the tests that need it. Returns the error reports."""
    errors = []
    for i, source in enumerate(cells):
        filename = f"<{label} {i + 1}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        try:
            exec(compile(source, filename, "exec"), namespace)
        except BaseException as err:  # noqa: BLE001 - SystemExit, KeyboardInterrupt too
            tb = traceback.format_exception(type(err), err, err.__traceback__, limit=-3)
            errors.append(f"{label} {i + 1} raised:\n" + "".join(tb)[-TRACEBACK_CAP:])
    return errors


class Server:
    """Holds the submission's namespace and the objects the judge has handles to."""

    def __init__(self, namespace: dict):
        self.objects: dict[int, Any] = {0: NAMESPACE}
        self.namespace = namespace

    def handle(self, obj: Any) -> wire.Handle:
        key = len(self.objects)
        self.objects[key] = obj
        return wire.Handle(key, type(obj).__qualname__)

    def resolve(self, handle: wire.Handle) -> Any:
        """The object a handle in a request stands for (requests arrive with handles resolved)."""
        if handle.id not in self.objects:
            raise KeyError(f"unknown handle {handle.id}")
        return self.objects[handle.id]

    def get(self, obj: Any, name: str) -> Any:
        if obj is NAMESPACE:
            if name not in self.namespace:
                raise NameError(f"`{name}` is not defined in your notebook: run (or restore) the cell that defines it")
            return self.namespace[name]
        return getattr(obj, name)

    def answer(self, request: dict) -> Any:
        op = request["op"]
        if op == "load":
            return run_cells(request["cells"], self.namespace)
        if op == "get":
            return self.get(request["obj"], request["name"])
        if op == "call":
            return request["obj"](*request.get("args", ()), **request.get("kwargs", {}))
        if op == "import":
            return importlib.import_module(request["module"])
        if op == "reset":
            self.objects = {0: self.objects[0]}
            _reap()
            memory, THREAD_ERRORS[:] = "MemoryError" in THREAD_ERRORS, []
            return {"threads": self.other_threads(), "thread_out_of_memory": memory}
        raise ValueError(f"unknown op {op!r}")

    @staticmethod
    def other_threads(wait: float = 0.5) -> int:
        """Threads of the submission's still running besides this one (every thread that ever ran
        Python code has a frame here, ``threading`` or not); a thread that is ending gets ``wait``
        seconds to end. tqdm's monitor thread (started by any progress bar) is stopped first: it
        is tqdm's, and tqdm starts a new one when a bar needs it."""
        ends = time.monotonic() + wait
        for thread in threading.enumerate():
            if type(thread).__module__ == "tqdm._monitor" and type(thread).__name__ == "TMonitor":
                thread.was_killed.set()
                thread.join(wait)
        while (n := len(sys._current_frames()) - 1) and time.monotonic() < ends:
            time.sleep(0.01)
        return n

    def serve(self, fd_in: int, fd_out: int) -> None:
        """Answer requests until the judge closes the connection or sends ``{"op": "bye"}``."""
        while True:
            try:
                request = wire.decode(wire.receive(fd_in), self.resolve)
            except EOFError:
                return
            if request.get("op") == "bye":
                wire.send(fd_out, wire.encode({"value": None}))
                return
            wire.send(fd_out, self.reply(request))

    def reply(self, request: dict) -> bytes:
        try:
            return wire.encode({"value": self.answer(request)}, self.handle, REPLY_LIMIT)
        except BaseException as err:  # noqa: BLE001 - report everything, stop for nothing
            return wire.encode({"error": describe(err)})


def describe(err: BaseException) -> dict:
    """An exception as data: its type, message and the last frames of its traceback."""
    tb = "".join(traceback.format_exception(type(err), err, err.__traceback__, limit=-4))
    try:
        message = str(err)
    except BaseException:  # noqa: BLE001 - a hostile __str__
        message = "<unprintable>"
    return {"type": type(err).__name__, "message": message[:TRACEBACK_CAP], "traceback": tb[-TRACEBACK_CAP:]}


def main() -> None:
    """Serve on private copies of stdin/stdout; the submission's prints go to stderr, capped."""
    global REPLY_LIMIT
    REPLY_LIMIT = int(os.environ.get("GRADEBOX_REPLY_LIMIT", wire.MAX_MESSAGE))
    fd_in, fd_out = os.dup(0), os.dup(1)
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    sys.stdout = CappedStream(sys.__stderr__, OUTPUT_CAP)
    sys.stderr = sys.stdout
    sys.setrecursionlimit(3000)
    threading.excepthook = _thread_ended
    module = types.ModuleType("submission")
    sys.modules["submission"] = module  # dataclasses and pickling look classes up here
    Server(module.__dict__).serve(fd_in, fd_out)
    sys.stdout.flush()
    os._exit(0)  # no atexit hooks or threads of the submission's may delay the exit


if __name__ == "__main__":
    main()
