"""Wrong answers as mutations of the reference: one mistake, written as the lines it changes.

A wrong answer (a line of ``tests/wrong_answers/<part>.toml``) names the function (or method) it
changes, the exact reference text it replaces, the replacement, the graded tests it must fail and
the mistake it shows. Applying it to the
reference notebook (``solutions/<part>.py``) gives a submission whose author made exactly that
mistake in place; nothing else differs. If the reference text no longer occurs exactly once in the
function, applying it raises :class:`Stale`, so a wrong answer can never go stale silently.

``old`` is either a fragment of one line (replaced where it occurs) or whole lines joined by
``"\\n"``, compared without their indentation (blank and comment lines between them are skipped
and replaced with them); whole-line replacements take the indentation of the
first line they replace (their own leading spaces are kept on top of it). ``also`` holds further
``(where, old, new)`` edits for a mistake that touches two places.
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class Stale(AssertionError):
    """A wrong answer's reference text is gone or ambiguous: the reference changed under it."""


@dataclass(frozen=True)
class Wrong:
    name: str  # what the mistake is called, e.g. "no_zero_grad"
    where: str  # the function or method it changes: "train_sae", "ToyModel.forward"
    old: str  # the reference text it replaces (see the module's docstring)
    new: str  # its replacement
    targets: str  # the graded tests it must fail, separated by spaces
    mistake: str  # the mistake in a sentence, as a student makes it
    also: tuple[tuple[str, str, str], ...] = ()  # further (where, old, new) edits of the same mistake
    part: str = ""  # filled in by wrong_answers()

    @property
    def tests(self) -> list[str]:
        return self.targets.split()

    def source(self) -> str:
        """The reference notebook (percent-format text) with this mistake made in place."""
        text = (REPO / "solutions" / f"{self.part}.py").read_text()
        for where, old, new in ((self.where, self.old, self.new), *self.also):
            text = mutate(text, where, old, new, f"{self.part}/{self.name}")
        return text


def _span(text: str, where: str) -> tuple[int, int]:
    """Line range [start, end) of the one top-level definition (or method ``Class.name``) called ``where``."""
    outer, _, inner = where.partition(".")
    found = [n for n in ast.parse(text).body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == outer]
    if inner:
        found = [m for n in found for m in n.body if isinstance(m, ast.FunctionDef) and m.name == inner]
    if len(found) != 1:
        raise Stale(f"{where} is defined {len(found)} times in the reference, not once")
    node = found[0]
    return min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1, node.end_lineno


def mutate(text: str, where: str, old: str, new: str, label: str = "") -> str:
    """``text`` with ``old`` replaced by ``new`` inside the definition ``where`` (exactly one match)."""
    lines = text.splitlines(keepends=True)
    start, end = _span(text, where)
    body = lines[start:end]
    if "\n" not in old:
        hits = sum(line.count(old) for line in body)
        if hits != 1:
            raise Stale(f"{label}: {old!r} occurs {hits} times in {where}, not once")
        body = [line.replace(old, new) for line in body]
    else:
        want = old.split("\n")
        code = [i for i, line in enumerate(body) if line.strip() and not line.strip().startswith("#")]
        hits = [k for k in range(len(code) - len(want) + 1)
                if [body[i].strip() for i in code[k:k + len(want)]] == want]
        if len(hits) != 1:
            raise Stale(f"{label}: the {len(want)} lines starting {want[0]!r} occur {len(hits)} times in {where}, not once")
        first, last = code[hits[0]], code[hits[0] + len(want) - 1]
        indent = body[first][: len(body[first]) - len(body[first].lstrip())]
        body[first:last + 1] = [indent + line + "\n" for line in new.split("\n")] if new else []
    return "".join(lines[:start] + body + lines[end:])


@cache
def wrong_answers() -> tuple[Wrong, ...]:
    """Every wrong answer of every part, from ``tests/wrong_answers/<part>.toml``: one line a
    mistake, ``name = [where, old, new, targets, mistake]`` with optional further
    ``[[where, old, new], ...]`` edits (TOML refuses a name given twice)."""
    from grader.framework import parts

    found = []
    for part in parts():
        table = tomllib.loads((REPO / "tests" / "wrong_answers" / f"{part}.toml").read_text())
        for name, (where, old, new, targets, mistake, *also) in table.items():
            edits = tuple(tuple(edit) for edit in (also[0] if also else []))
            found.append(Wrong(name, where, old, new, targets, mistake, edits, part))
    return tuple(found)


def wrong_answer(part: str, name: str) -> Wrong:
    return next(w for w in wrong_answers() if w.part == part and w.name == name)
