"""The answer key: the reference's outputs on the graded tests' inputs, computed once per course version.

A graded test module marks a reference computation with ``@answer``: a function ``f(ref) -> data``
(tensors, numbers, lists, dicts) that depends only on the test's seeded inputs. The first time
any submission is graded under a course version, every answer of the part is computed in this
trusted process (one torch thread, so the result is reproducible) and written to
``<cache>/answer_keys/<part>-<course hash>.key``; every later submission reads it. The key lives
outside the caches the submission's sandbox can read. ``python -m grader.answers`` builds every
part's key ahead of a batch.

The course hash covers ``course/`` (the notebooks and the helper package), ``grader/`` and
``gradebox/``: editing any of them makes a new key.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import sys
from pathlib import Path
from typing import Any, Callable

from gradebox import wire
from grader.framework import REPO, has_reference, parts, reference, tests_module
from saecourse.files import atomic_path
from saecourse.utils import torch_threads

HASHED = ("course", "grader", "gradebox")
_ANSWERS: dict[str, dict[str, Callable[[Any], Any]]] = {}
READ: set[tuple[str, str]] = set()  # (part, answer) pairs the tests read: the release ships the visible ones


def answer(fn: Callable[[Any], Any]) -> Callable[[], Any]:
    """Register ``fn(ref)`` as an answer-key entry of its part; calling the result returns the stored value."""
    part = fn.__module__.rsplit(".", 1)[-1]
    _ANSWERS.setdefault(part, {})[fn.__name__] = fn

    @functools.wraps(fn)
    def stored() -> Any:
        READ.add((part, fn.__name__))
        return answer_key(part)[fn.__name__]

    return stored


@functools.cache
def course_hash() -> str:
    """SHA-256 over every source file of the course, the grader and the submission side."""
    digest = hashlib.sha256()
    for top in HASHED:
        for path in sorted((REPO / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".json", ".txt", ".tsv", ".toml"):
                digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def key_path(part: str) -> Path:
    from saecourse.utils import cache_dir

    return cache_dir() / "answer_keys" / f"{part}-{course_hash()[:16]}.key"


@functools.cache
def answer_key(part: str) -> dict[str, Any]:
    """The part's answer key, built first if this course version has none yet (in the student
    release: the answers its visible tests need, from the visible key)."""
    if not has_reference(part):
        from grader.replay import visible_key

        return visible_key(part)["answers"]
    path = key_path(part)
    if not path.exists():
        build(part)
    return wire.decode(path.read_bytes())


def build(part: str) -> Path:
    """Compute every answer of ``part`` with the reference and store them (once, under a lock)."""
    tests_module(part)  # registers the part's answers
    path = key_path(part)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two graders starting together compute it once
        if not path.exists():
            ref = reference(part)
            with torch_threads(1):
                values = {name: fn(ref) for name, fn in _ANSWERS.get(part, {}).items()}
            with atomic_path(path) as tmp:
                tmp.write_bytes(wire.encode(values))
    return path


def main() -> int:
    for part in parts():
        print(f"{part}: {build(part)}")
    return 0


if __name__ == "__main__":
    # Through the imported module: the test modules register their answers in ``grader.answers``,
    # not in this ``__main__`` copy (whose registry would stay empty and write empty keys).
    from grader.answers import main as registered_main

    sys.exit(registered_main())
