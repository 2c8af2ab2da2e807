"""Writing a file or a folder whole or not at all (standard library only: the grader's
orchestration uses it before anything heavy is importable)."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path, replace_folder: bool = False) -> Iterator[Path]:
    """A temporary path beside ``path`` to write one file or one folder at, moved onto ``path`` when
    the block ends without an error: a reader never sees half of it, and writers side by side (two
    graders filling one cache) each move a complete one. A folder already at ``path`` (another
    writer's cache entry) is kept unless ``replace_folder``. The temporary is gone afterwards,
    whatever happened."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        yield tmp
        if not tmp.is_dir():
            tmp.replace(path)
        elif replace_folder or not path.exists():
            if replace_folder and path.exists():
                shutil.rmtree(path)
            try:
                tmp.rename(path)
            except OSError:
                if not path.is_dir():  # not another writer's folder: a real failure
                    raise
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def write_json(path: Path, data: object) -> None:
    """``data`` as indented JSON at ``path``, written whole or not at all."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False))
