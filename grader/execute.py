"""``python -m grader.execute [PART ...]``: run solution notebooks end to end.

Executed notebooks (with outputs) go to ``build/executed/``, plots (PNG) to ``build/plots/``,
and a timing summary to ``build/timings.json``. Nothing under ``build/`` is committed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import nbformat
from nbclient import NotebookClient

from grader.framework import REPO, part_name, parts

BUILD = REPO / "build"


def execute(part: str, timeout: int = 3600) -> float:
    """Execute ``solutions/<part>.ipynb``; return the wall time in seconds."""
    nb = nbformat.read(REPO / "solutions" / f"{part}.ipynb", as_version=4)
    (BUILD / "executed").mkdir(parents=True, exist_ok=True)
    os.environ["SAECOURSE_OUT"] = str(BUILD / "plots")
    os.environ.setdefault("MPLBACKEND", "Agg")
    start = time.perf_counter()
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(BUILD)}}).execute()
    finally:
        nbformat.write(nb, BUILD / "executed" / f"{part}.ipynb")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.execute", description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", help="part numbers or names (default: all)")
    args = parser.parse_args(argv)
    selected = [part_name(p) for p in args.parts] or parts()
    timings_path = BUILD / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    for part in selected:
        print(f"executing {part} ...", flush=True)
        timings[part] = round(execute(part), 1)
        print(f"  done in {timings[part]:.0f} s -> build/executed/{part}.ipynb", flush=True)
        timings_path.write_text(json.dumps(timings, indent=2))
    plots = sorted((BUILD / "plots").glob("*.png"))
    print(f"{len(plots)} plots in build/plots/: " + ", ".join(p.name for p in plots))
    return 0


if __name__ == "__main__":
    sys.exit(main())
