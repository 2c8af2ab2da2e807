"""Feature dashboards as self-contained HTML pages: one file per feature plus an index.

A page needs no network and runs no script: the style sheet is inline, the activation histogram
is an inline SVG, and every piece of text from the corpus is HTML-escaped. So the files can be
opened from disk, mailed, or rendered in a headless browser by a test (``saecourse.browser``).

Part 3 writes the token highlighting itself (its ``highlight_html`` produces spans with the classes
``tok``, ``tok center`` and ``tok na`` styled here, coloured by its ``activation_alpha`` exercise);
this module only lays out pages.
"""

from __future__ import annotations

import html
from pathlib import Path

import torch
from torch import Tensor

STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1100px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 16px; margin: 20px 0 6px; }
.stats { color: #555; } .stats b { color: #222; }
.example { font-family: ui-monospace, monospace; font-size: 13px; margin: 3px 0; line-height: 1.9; }
.example .value { display: inline-block; width: 60px; color: #777; }
.tok { white-space: pre; border-radius: 2px; padding: 1px 0; }
.tok.center { outline: 2px solid #b03000; font-weight: bold; }
.tok.na { color: #999; }
.cols { display: flex; gap: 40px; } .cols > div { flex: 1; }
table { border-collapse: collapse; font-size: 13px; } td, th { padding: 2px 10px; text-align: left; }
tr:nth-child(even) { background: #f4f4f4; } .mono { font-family: ui-monospace, monospace; white-space: pre; }
svg rect.bar { fill: #e8702a; } svg text { font-size: 11px; fill: #555; }
"""


def page(title: str, body: str) -> str:
    """A complete HTML document with the inline style sheet; ``body`` is already HTML."""
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")


def section(heading: str, body: str) -> str:
    return f"<h2>{html.escape(heading)}</h2>\n{body}\n"


def histogram_svg(values: Tensor, bins: int = 40, width: int = 520, height: int = 150, label: str = "activation") -> str:
    """An inline SVG histogram of ``values`` ([n], e.g. a feature's nonzero activations)."""
    values = values.float().flatten()
    if values.numel() == 0:
        return f"<p class=\"stats\">no {html.escape(label)} values</p>"
    lo, hi = values.min().item(), values.max().item()
    counts = torch.histc(values, bins=bins, min=lo, max=hi if hi > lo else lo + 1)
    pad, bar_w = 30, (width - 40) / bins
    bars = "".join(
        f'<rect class="bar" x="{pad + i * bar_w:.1f}" y="{height - pad - h:.1f}" width="{bar_w - 1:.1f}" height="{h:.1f}">'
        f"<title>{int(c)}</title></rect>"
        for i, c in enumerate(counts.tolist()) if (h := (height - pad - 10) * c / counts.max().item()) > 0)
    axis = (f'<text x="{pad}" y="{height - 12}">{lo:.3g}</text>'
            f'<text x="{width - 10}" y="{height - 12}" text-anchor="end">{hi:.3g}</text>'
            f'<text x="{width / 2}" y="{height - 2}" text-anchor="middle">{html.escape(label)} (n = {values.numel()})</text>')
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">{bars}{axis}</svg>'


def token_table(tokens: list[str], values: list[float], heading: str) -> str:
    """A two-column table of token strings (shown with their spaces) and numbers."""
    rows = "".join(f'<tr><td class="mono">{html.escape(repr(t)[1:-1])}</td><td>{v:+.3f}</td></tr>'
                   for t, v in zip(tokens, values))
    return f"<table><tr><th>{html.escape(heading)}</th><th></th></tr>{rows}</table>"


def write_site(folder: str | Path, pages: dict[str, str], index_rows: list[tuple[str, list[str]]],
               columns: list[str], title: str) -> Path:
    """Write ``pages`` ({file name: html}) and ``index.html`` into ``folder``; return the index's path.

    index_rows: (file name, cells) per page, the cells already formatted as text; columns: their headers.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in pages.items():
        (folder / name).write_text(text, encoding="utf-8")
    header = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = "".join(f'<tr><td><a href="{html.escape(name)}">{html.escape(cells[0])}</a></td>'
                   + "".join(f"<td>{html.escape(c)}</td>" for c in cells[1:]) + "</tr>" for name, cells in index_rows)
    index = folder / "index.html"
    index.write_text(page(title, f"<h1>{html.escape(title)}</h1><table><tr>{header}</tr>{rows}</table>"), encoding="utf-8")
    return index


def inline(document: str, height: int = 600):
    """Show a complete HTML page inside a notebook, in an iframe so its style stays its own."""
    import warnings

    from IPython.display import HTML

    with warnings.catch_warnings():  # IPython suggests IFrame, which needs a URL; srcdoc keeps the page inline
        warnings.simplefilter("ignore", UserWarning)
        return HTML(f'<iframe srcdoc="{html.escape(document, quote=True)}" style="width: 100%; height: {height}px; '
                    'border: 1px solid #ddd"></iframe>')
