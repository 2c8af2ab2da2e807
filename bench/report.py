"""What every benchmark shares: the machine line and the sections of ``bench/README.md``."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

README = Path(__file__).parent / "README.md"


def machine() -> str:
    """One line naming what a measurement ran on."""
    cpuinfo = Path("/proc/cpuinfo")
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if cpuinfo.is_file() else platform.processor()
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} threads, "
            f"Python {platform.python_version()}")


def write_section(name: str, markdown: str) -> None:
    """Replace the part of bench/README.md between ``<!-- name -->`` and ``<!-- /name -->`` (appended if missing)."""
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    text = README.read_text() if README.is_file() else "# Benchmarks\n"
    block = f"{start}\n{markdown.strip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    README.write_text(text)
