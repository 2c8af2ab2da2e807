"""A notebook's cells, read without jupytext or nbformat, and which of them define things.

One rule for everything that loads a notebook's definitions (the grader's judge and reference, a
notebook's ``check()``, the release's recording, ``saecourse.project``'s exercises): test cells
(nbgrader ``grade`` cells without a solution, or cells made only of ``check(...)``) and cells
tagged ``demo`` (training runs, plots) are not definitions; every other code cell is.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

DEMO_TAG = "demo"
CHECK_CALL = re.compile(r"^\s*check\(\s*['\"][\w]+['\"]\s*\)\s*$")
CELL_MARKER = re.compile(r"^# %%(?P<rest>.*)$")
METADATA_KEY = re.compile(r"\s*([\w.-]+)=")


def read_cells(path: Path) -> list[dict]:
    """The notebook's cells as nbformat dicts (``cell_type``, ``source``, ``metadata``).

    Read without jupytext/nbformat, whose import costs the judge 2 s per process (nbformat's
    schema validator); ``tests/test_trusted_grading.py`` checks the two readers agree."""
    path = Path(path)
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        return [{**c, "source": "".join(c["source"]) if isinstance(c["source"], list) else c["source"]} for c in cells]
    return read_percent(path.read_text())


def read_percent(text: str) -> list[dict]:
    """Cells of a Jupytext ``py:percent`` file: ``# %% [markdown] key=<json> ...`` starts a cell."""
    cells: list[dict] = []
    for line in _without_header(text.splitlines()):
        if marker := CELL_MARKER.match(line):
            kind, metadata = _parse_marker(marker["rest"])
            cells.append({"cell_type": kind, "metadata": metadata, "lines": []})
        elif cells:
            cells[-1]["lines"].append(line)
    for cell in cells:
        lines = cell.pop("lines")
        while lines and not lines[-1].strip():
            lines.pop()
        if cell["cell_type"] == "markdown":
            lines = [ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in lines]
        cell["source"] = "\n".join(lines)
    return cells


def _without_header(lines: list[str]) -> list[str]:
    """Drop Jupytext's YAML header (``# ---`` ... ``# ---``) if the file starts with one."""
    if lines and lines[0] == "# ---" and "# ---" in lines[1:]:
        return lines[lines.index("# ---", 1) + 1:]
    return lines


def _parse_marker(rest: str) -> tuple[str, dict]:
    """``" [markdown] tags=["demo"]"`` -> ``("markdown", {"tags": ["demo"]})``."""
    kind = "code"
    rest = rest.strip()
    if rest.startswith(("[markdown]", "[md]")):
        kind, rest = "markdown", rest.split("]", 1)[1]
    metadata, decoder, pos = {}, json.JSONDecoder(), 0
    while key := METADATA_KEY.match(rest, pos):
        try:
            metadata[key[1]], pos = decoder.raw_decode(rest, key.end())
        except json.JSONDecodeError:
            break
    return kind, metadata


def is_test_cell(cell: dict) -> bool:
    """An nbgrader autograder-test cell, or (metadata lost) a cell made only of ``check(...)``."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if meta.get("grade") and not meta.get("solution"):
        return True
    lines = code_lines(cell["source"])
    return bool(lines) and all(CHECK_CALL.match(ln) for ln in lines)


def code_lines(source: str) -> list[str]:
    """The lines of a cell's source that are neither blank nor comments."""
    return [ln for ln in source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def is_demo_cell(cell: dict) -> bool:
    return DEMO_TAG in cell.get("metadata", {}).get("tags", [])


def definition_sources(cells: list[dict]) -> list[str]:
    """Source of every code cell that defines things, with IPython magics commented out."""
    sources = []
    for cell in cells:
        if cell["cell_type"] != "code" or is_test_cell(cell) or is_demo_cell(cell):
            continue
        lines = [("# " + ln if ln.lstrip().startswith(("%", "!")) else ln) for ln in cell["source"].splitlines()]
        sources.append("\n".join(lines))
    return sources
