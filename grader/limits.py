"""Every bound on what one submission may consume, defined once, and the means that enforce them.

A submission can cost only its own points, never the machine. Each bound has a setting (an
environment variable read by ``Limits`` below; the hostile tests pass smaller values) and a
documented default. Where the grader runs as root (CI, Gradescope) the kernel enforces the bounds
of the submission's process: a cgroup (v2 ``pids.max`` / ``memory.max``, or v1's ``pids`` and
``memory`` controllers) and a size- and inode-capped tmpfs mounted on its scratch folder in the
judge's own mount namespace (so it disappears with the judge, whatever kills it). As an ordinary
user, or with ``GRADER_RLIMITS_ONLY=1``, rlimits stand in (``RLIMIT_NPROC``, ``RLIMIT_AS``) and
the judge measures the scratch folder every ``SCRATCH_POLL_SECONDS`` while it waits for a reply.

A test that hits a bound fails with a message that ends in ``[limit: <name>]``; the gradebook
lists which submissions hit which bound from these tags.
"""

from __future__ import annotations

import ctypes
import dataclasses
import itertools
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

MiB, GiB = 2**20, 2**30


@dataclass(frozen=True)
class Bound:
    name: str  # the tag in a test's output: [limit: name]
    setting: str  # the environment variable
    default: float
    unit: str
    what: str


BOUNDS = {b.name: b for b in [
    Bound("disk", "GRADER_DISK_MB", 1024, "MiB", "total size of the files in the submission's scratch folder"),
    Bound("files", "GRADER_FILES", 16384, "files", "files and folders in the scratch folder (inodes)"),
    Bound("file size", "GRADER_FILE_MB", 256, "MiB", "size of any one file the submission writes"),
    Bound("processes", "GRADER_PROCESSES", 256, "tasks", "processes and threads of the submission at once"),
    Bound("threads", "GRADER_LEFTOVER_THREADS", 0, "threads", "threads still running after a call returned"),
    Bound("threads at once", "GRADER_THREADS_AT_ONCE", 32, "threads", "threads of the submission's process during a call "
          "(measured every second; its libraries run one thread each)"),
    Bound("cleanup", "GRADER_CLEANUP_SECONDS", 10, "s", "time to drop a test's objects after it (e.g. a __del__)"),
    Bound("memory", "GRADER_MEMORY_GB", 8, "GiB", "memory of the submission's process (its scratch tmpfs included, as root)"),
    Bound("reply size", "GRADER_REPLY_MB", 256, "MiB", "size of one reply the judge reads, checked from its length prefix"),
    Bound("reply structure", "GRADER_REPLY_JSON_MB", 16, "MiB", "the non-tensor part (JSON) of one reply"),
    Bound("test time", "GRADER_TEST_SECONDS", 120, "s", "wall-clock seconds of one test's calls: each test's own "
          "limit (120 s unless it says more); the setting caps them all"),
    Bound("part time", "GRADER_PART_BUDGET", 600, "s", "wall-clock seconds for all the tests of one part"),
]}
SHM_BYTES = 64 * MiB  # the sandbox's /dev/shm (a size-capped tmpfs; the rest of /dev is read-only)
SCRATCH_POLL_SECONDS = 1.0  # without a capped tmpfs: how often the judge measures the scratch folder
SCRATCH_SLACK = 16 * MiB  # the tmpfs holds a little more than the bound, so going past it is visible


def setting(name: str) -> float:
    """The bound's value: its environment variable, else its default."""
    bound = BOUNDS[name]
    return float(os.environ.get(bound.setting, bound.default))


def _set(name: str, integer: bool = False):
    """A dataclass field whose default is the bound's setting, read when the record is made."""
    return dataclasses.field(default_factory=lambda: int(setting(name)) if integer else setting(name))


def _env(variable: str, default: float, integer: bool = False):
    """A dataclass field read from ``variable`` (not a bound: a choice of how to grade)."""
    return dataclasses.field(default_factory=lambda: (int if integer else float)(os.environ.get(variable, default)))


@dataclass
class SubmissionLimits:
    """The bounds of one submission's process, as its judge enforces them (BOUNDS documents each)."""

    memory_gb: float = _set("memory")
    load_seconds: float = _env("GRADER_LOAD_TIMEOUT", 300)  # for the notebook's definition cells
    threads: int = _env("GRADER_THREADS", 1, integer=True)  # torch threads of the submission's process
    confined: bool = True  # False only with --unsafe-no-sandbox, and the results say so
    hidden: tuple[Path, ...] = ()  # helper files the submission may not see (sandbox.hidden_for)
    disk_mb: float = _set("disk")
    files: int = _set("files", integer=True)
    file_mb: float = _set("file size")
    processes: int = _set("processes", integer=True)
    reply_mb: float = _set("reply size")
    cleanup_seconds: float = _set("cleanup")
    leftover_threads: int = _set("threads", integer=True)
    threads_at_once: int = _set("threads at once", integer=True)


@dataclass
class Limits(SubmissionLimits):
    """Everything one part of one submission may take: its process's bounds, and the judge's own."""

    wall_seconds: float = _env("GRADER_PART_TIMEOUT", 1200)  # the judge itself is stopped after this
    test_seconds: float | None = dataclasses.field(
        default_factory=lambda: setting("test time") if BOUNDS["test time"].setting in os.environ else None)
    # ^ caps every test's own limit (for quick regrades and the hostile tests)
    part_seconds: float = _set("part time")  # all the tests of a part (wall_seconds stops the judge)
    part_jobs: int = _env("GRADER_PART_JOBS", 2, integer=True)  # parts of one submission graded side by side

    def to_json(self) -> str:
        """What the judge is given (``--limits``): every field, one definition."""
        return json.dumps({k: v for k, v in dataclasses.asdict(self).items() if k != "hidden"})

    @classmethod
    def from_json(cls, text: str) -> "Limits":
        return cls(**json.loads(text))

    def submission(self, hidden: tuple[Path, ...] = ()) -> SubmissionLimits:
        """The bounds of the submission's process, with the files it may not see."""
        own = {f.name: getattr(self, f.name) for f in dataclasses.fields(SubmissionLimits)}
        return SubmissionLimits(**{**own, "hidden": hidden})


def tag(name: str) -> str:
    assert name in BOUNDS, name
    return f"[limit: {name}]"


TAG = re.compile(r"\[limit: ([a-z ]+)\]")


def hit(text: str) -> list[str]:
    """The bounds a test's output says it hit, in order, each once."""
    return list(dict.fromkeys(m for m in TAG.findall(text or "") if m in BOUNDS))


def size_text(n: float) -> str:
    return f"{n / GiB:.2f} GiB" if n >= GiB else f"{n / MiB:.0f} MiB"


def root_bounds() -> bool:
    """Whether the kernel-enforced bounds (cgroup, capped tmpfs) are to be used: as root, unless
    ``GRADER_RLIMITS_ONLY=1`` asks for the ordinary user's fallback."""
    return os.geteuid() == 0 and os.environ.get("GRADER_RLIMITS_ONLY", "0") != "1"


# --------------------------------------------------------------------------------------------------
# The scratch folder: a capped tmpfs (root), or measured (anyone)

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNS, MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE, MNT_DETACH = 0x20000, 2, 4, 0x4000, 1 << 18, 2
_private = False


def private_mounts() -> bool:
    """Give this process (the judge, single-threaded still) a mount namespace of its own, so the
    tmpfs it mounts is seen by it and the sandboxes it starts, and vanishes when they all end."""
    global _private
    if not _private and root_bounds():
        if _libc.unshare(CLONE_NEWNS) == 0 and _libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) == 0:
            _private = True
    return _private


def mount_scratch(path: Path, size: int, files: int) -> bool:
    """Mount a tmpfs of ``size`` bytes and ``files`` inodes on ``path`` (root, private namespace)."""
    if not private_mounts():
        return False
    options = f"size={size + SCRATCH_SLACK},nr_inodes={files + 64},mode=0755".encode()
    return _libc.mount(b"tmpfs", str(path).encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options) == 0


def unmount(path: Path) -> None:
    _libc.umount2(str(path).encode(), MNT_DETACH)


def scratch_usage(path: Path, mounted: bool, stop_at: tuple[int, int] | None = None) -> tuple[int, int]:
    """Bytes and entries under ``path``: from the tmpfs's counters, or by walking the folder (the
    walk stops early once past ``stop_at``)."""
    if mounted:
        st = os.statvfs(path)
        return (st.f_blocks - st.f_bfree) * st.f_frsize, max(0, st.f_files - st.f_ffree - 1)
    size = count = 0
    stack = [str(path)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            count += 1
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            size += st.st_blocks * 512
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
        if stop_at and (size > stop_at[0] or count > stop_at[1]):
            break
    return size, count


def clear_folder(path: Path) -> None:
    """Remove everything inside ``path`` (a mount point stays)."""
    for entry in list(os.scandir(path)):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            try:
                os.unlink(entry.path)
            except OSError:
                pass


# --------------------------------------------------------------------------------------------------
# Processes, threads and memory: a cgroup (root), or rlimits (anyone)

ROOT = Path("/sys/fs/cgroup")
_names = itertools.count()


def cgroup_version() -> int | None:
    """2 for a unified hierarchy with the pids and memory controllers, 1 for v1 controllers
    mounted at /sys/fs/cgroup/{pids,memory}, None if neither is writable here."""
    controllers = ROOT / "cgroup.controllers"
    if controllers.exists():
        have = set(controllers.read_text().split())
        return 2 if {"pids", "memory"} <= have else None
    if all(os.access(ROOT / c, os.W_OK) for c in ("pids", "memory")):
        return 1
    return None


def _own(controller: str) -> Path:
    """This process's cgroup in ``controller``'s hierarchy ('' for v2)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if (controller == "" and names == "") or controller in names.split(","):
            return Path(path.lstrip("/"))
    return Path("")


class Cgroup:
    """A cgroup for one submission's process: at most ``pids`` tasks and ``memory`` bytes."""

    def __init__(self, dirs: list[Path], version: int):
        self.dirs, self.version = dirs, version
        self.seen = self.events()

    @classmethod
    def create(cls, memory: int, pids: int) -> "Cgroup | None":
        version = cgroup_version() if root_bounds() else None
        if version is None:
            return None
        name = f"grader-{os.getpid()}-{next(_names)}"
        try:
            if version == 2:
                parent = ROOT / _own("")
                _sweep(parent)
                control = parent / "cgroup.subtree_control"
                if not {"pids", "memory"} <= set(control.read_text().split()):
                    control.write_text("+pids +memory")
                group = parent / name
                group.mkdir()
                (group / "pids.max").write_text(str(pids))
                (group / "memory.max").write_text(str(memory))
                if (group / "memory.swap.max").exists():
                    (group / "memory.swap.max").write_text("0")
                return cls([group], 2)
            dirs = []
            for controller in ("pids", "memory"):
                parent = ROOT / controller / _own(controller)
                _sweep(parent)
                (parent / name).mkdir()
                dirs.append(parent / name)
            made = cls(dirs, 1)
            (dirs[0] / "pids.max").write_text(str(pids))
            (dirs[1] / "memory.limit_in_bytes").write_text(str(memory))
            if (dirs[1] / "memory.memsw.limit_in_bytes").exists():
                try:
                    (dirs[1] / "memory.memsw.limit_in_bytes").write_text(str(memory))
                except OSError:
                    pass
            made.seen = made.events()
            return made
        except OSError:
            for group in (ROOT / c / _own(c) / name for c in ("pids", "memory", "")):
                try:
                    group.rmdir()
                except OSError:
                    pass
            return None

    def join(self) -> None:
        """Move the calling process in (the submission's process, before it execs)."""
        for group in self.dirs:
            with open(group / "cgroup.procs", "w") as f:
                f.write(str(os.getpid()))

    def events(self) -> dict[str, int]:
        """Cumulative counters: ``pids`` (forks refused at pids.max), ``oom`` (processes killed at
        the memory bound)."""
        found = {"pids": 0, "oom": 0}
        for group in self.dirs:
            for file, key, field in (("pids.events", "pids", "max"), ("memory.events", "oom", "oom_kill"),
                                     ("memory.oom_control", "oom", "oom_kill")):
                try:
                    for line in (group / file).read_text().splitlines():
                        words = line.split()
                        if len(words) == 2 and words[0] == field:
                            found[key] = max(found[key], int(words[1]))
                except OSError:
                    pass
        return found

    def new_events(self) -> dict[str, int]:
        """What happened since the last call."""
        now = self.events()
        new = {k: now[k] - self.seen.get(k, 0) for k in now}
        self.seen = now
        return new

    def clear(self, seconds: float = 5.0) -> bool:
        """Kill every process left in it and wait until the kernel has released them all: a killed
        process counts against ``pids.max`` until it is reaped, and a restart that began while the
        last process's tasks were still being torn down could not start at all (bwrap's clone
        fails with EAGAIN). True when it is empty within ``seconds``."""
        ends = time.monotonic() + seconds
        while True:
            left = [pid for group in self.dirs for pid in _read(group / "cgroup.procs").split()]
            if not left and not self.tasks():
                return True
            for pid in left:
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            if time.monotonic() > ends:
                return False
            time.sleep(0.02)

    def tasks(self) -> int:
        """Tasks the kernel counts against ``pids.max`` now (the ended but not yet released included)."""
        return sum(int(_read(group / "pids.current") or 0) for group in self.dirs)

    def remove(self) -> None:
        """Kill what is left in it and remove it."""
        self.clear()
        for group in self.dirs:
            for attempt in range(50):
                try:
                    group.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    self.clear(0.0)
                    time.sleep(0.02)


def _read(path: Path) -> str:
    """A cgroup file's text, empty where it does not exist (v1's memory group has no pids files)."""
    try:
        return path.read_text()
    except OSError:
        return ""


def _sweep(parent: Path) -> None:
    """Remove empty cgroups left by judges that were killed before they could remove theirs."""
    for group in parent.glob("grader-*-*"):
        owner = group.name.split("-")[1]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            try:
                group.rmdir()
            except OSError:
                pass


def tasks_of(uid: int) -> int:
    """Processes and threads that ``uid`` runs now (``RLIMIT_NPROC`` counts them all)."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry}/task"))
            except OSError:
                pass
    return count
