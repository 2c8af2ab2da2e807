"""``python -m grader.execute [--smoke] [PART ...]``: run solution notebooks end to end.

Executed notebooks (with outputs) go to ``build/executed/``, plots (PNG) to ``build/plots/``,
a timing summary to ``build/timings.json`` and the claims each notebook checked
(``saecourse.claims.expect``: how many, and any that did not hold) to ``build/claims.json``. A
claim that is false at full size fails its cell, so the run stops and names it. Nothing under
``build/`` is committed.

``--smoke`` runs the same cells with ``SAECOURSE_SIZE=smoke``: demo cells shrink their data and
step counts (``saecourse.utils.sized``), so every notebook runs in about a minute. Its outputs go
to ``build/executed-smoke/`` and ``build/plots-smoke/``, its timings under the ``"smoke"`` key.
A cell that fails stops the run with an error that names the cell.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellControlSignal, DeadKernelError
from nbformat import NotebookNode

from grader.framework import REPO, part_name, parts
from saecourse.files import write_json

BUILD = REPO / "build"
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # tracebacks from the kernel come coloured
CHECK_PASSED = re.compile(r"^✓ test_\w+ passed \(")  # what a notebook's check("test_x") prints: not a claim


class NotebookFailed(RuntimeError):
    """A cell of a solution notebook raised, timed out or killed its kernel."""


def output_dirs(build: Path, size: str) -> tuple[Path, Path]:
    """Where the executed notebooks and the plots of a run at ``size`` go."""
    suffix = "" if size == "full" else f"-{size}"
    return build / f"executed{suffix}", build / f"plots{suffix}"


def describe_cell(nb: NotebookNode, index: int) -> str:
    """``cell 12 (id test_geometry, demo): first line of its source``."""
    cell = nb.cells[index]
    labels = [f"id {cell.id}", *cell.metadata.get("tags", [])]
    first_line = next((line for line in cell.source.splitlines() if line.strip()), "")
    return f"cell {index} ({', '.join(labels)}): {first_line}"


def claim_lines(nb: NotebookNode) -> list[str]:
    """The claims an executed notebook checked (``saecourse.claims.expect``): its ``✓`` / ``✗`` lines, in order."""
    lines = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text = output.get("text", "") if output.get("output_type") == "stream" else ""
            lines += [line for line in text.splitlines()
                      if line.startswith(("✓ ", "✗ ")) and not CHECK_PASSED.match(line)]
    return lines


def execute(part: str, size: str = "full", build: Path = BUILD, timeout: int = 3600) -> float:
    """Execute ``solutions/<part>.ipynb`` at ``size`` ("full" or "smoke"); return the wall time in seconds.

    The kernel gets ``SAECOURSE_SIZE`` and ``SAECOURSE_OUT`` (where plots go); the executed
    notebook is written even when a cell fails, and the ``NotebookFailed`` error names that cell.
    """
    nb = nbformat.read(REPO / "solutions" / f"{part}.ipynb", as_version=4)
    executed, plots = output_dirs(build, size)
    executed.mkdir(parents=True, exist_ok=True)
    env = {"MPLBACKEND": "Agg", **os.environ, "SAECOURSE_SIZE": size, "SAECOURSE_OUT": str(plots)}
    running: list[int] = []  # index of the cell being executed, kept by the hook below
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(build)}},
                            on_cell_execute=lambda cell, cell_index: running.append(cell_index))
    start = time.perf_counter()
    try:
        client.execute(env=env)
    except (CellControlSignal, DeadKernelError) as error:
        where = describe_cell(nb, running[-1]) if running else "the kernel, before the first cell,"
        raise NotebookFailed(f"{part} at {size} size: {where} failed:\n{ANSI_COLOUR.sub('', str(error))}") from error
    finally:
        nbformat.write(nb, executed / f"{part}.ipynb")
        record_claims(build, size, part, claim_lines(nb))
    return time.perf_counter() - start


def record_claims(build: Path, size: str, part: str, lines: list[str]) -> None:
    """Add ``part``'s checked claims to ``build/claims.json`` (per size: how many held, the ones that did not)."""
    path = build / "claims.json"
    claims = json.loads(path.read_text()) if path.exists() else {}
    failed = [line for line in lines if line.startswith("✗ ")]
    claims.setdefault(size, {})[part] = {"checked": len(lines), "held": len(lines) - len(failed), "not_held": failed}
    write_json(path, claims)  # whole or not at all: parts run side by side read it


def adopt_reference() -> None:
    """Part 2's real run, just executed from ``solutions/``, is the reference SAE's run: cache it as the
    reference (``saes.adopt_solutions_run``) so that Parts 6 and 7 do not train it again."""
    from saecourse import saes

    adopted = saes.adopt_solutions_run()
    print(f"  Part 2's SAE is the reference SAE: cached at {adopted}" if adopted else
          "  Part 2's SAE is not the reference run here (or the reference is cached): Part 6 reads or trains its own",
          flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.execute", description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", help="part numbers or names (default: all)")
    parser.add_argument("--smoke", action="store_true", help="shrink the demo cells (SAECOURSE_SIZE=smoke)")
    args = parser.parse_args(argv)
    selected = [part_name(p) for p in args.parts] or parts()
    size = "smoke" if args.smoke else "full"
    executed, plots = output_dirs(BUILD, size)
    timings_path = BUILD / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    for part in selected:
        print(f"executing {part} at {size} size ...", flush=True)
        try:
            seconds = execute(part, size)
        except NotebookFailed as error:
            print(error, file=sys.stderr)
            return 1
        timings.setdefault(size, {})[part] = round(seconds, 1)
        claims = json.loads((BUILD / "claims.json").read_text())[size][part]
        print(f"  done in {seconds:.0f} s -> {executed.relative_to(REPO)}/{part}.ipynb; "
              f"{claims['held']} of {claims['checked']} claims held", flush=True)
        write_json(timings_path, timings)
        if part == "part2_training_saes" and size == "full":
            adopt_reference()
    found = sorted(plots.glob("*.png"))
    print(f"{len(found)} plots in {plots.relative_to(REPO)}/: " + ", ".join(p.name for p in found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
