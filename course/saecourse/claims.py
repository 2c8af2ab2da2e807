"""Claims the run checks itself: every sentence about a result is backed by an ``expect``.

A demo cell that computes a result the text then talks about ends with::

    expect(errors_nb < errors_far, "a pair of neighbours costs less than a pair of non-neighbours",
           neighbours=errors_nb, non_neighbours=errors_far)

which prints ``✓ a pair of neighbours costs less ... (neighbours 0.38, non_neighbours 2.3)``. When the
condition is false at full size it raises ``ClaimFailed`` with the statement and the figures, so
``make solutions`` fails and names the claim the prose got wrong. At smoke size
(``SAECOURSE_SIZE=smoke``: a few steps on a little data, which give other numbers) it prints a
warning instead. ``SAECOURSE_CLAIMS=warn`` makes a full run warn too: a student whose own
implementation gives other numbers can run the notebook on and read what differs.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from saecourse.utils import is_smoke

MODES = ("raise", "warn")


class ClaimFailed(AssertionError):
    """A claim of the notebook's text is false for this run."""


@dataclass(frozen=True)
class Claim:
    """One checked statement and the figures it was checked on."""

    statement: str
    held: bool
    figures: dict[str, object] = field(default_factory=dict)

    def line(self) -> str:
        """``✓ statement (name 0.38, other 2.3)``, or with ``✗`` when it does not hold."""
        shown = ", ".join(f"{name} {format_figure(value)}" for name, value in self.figures.items())
        return f"{'✓' if self.held else '✗'} {self.statement}" + (f" ({shown})" if shown else "")


CHECKED: list[Claim] = []  # every claim checked in this process, in order (tests and summaries read it)


def format_figure(value: object) -> str:
    """A figure as a reader wants it: 3 significant digits for floats, tensors and arrays as numbers."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # a 0-d tensor or array, or a NumPy scalar
        value = value.item()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.3g}"
    return str(value)


def claims_mode() -> str:
    """``raise`` (the default at full size) or ``warn`` (smoke size, or ``SAECOURSE_CLAIMS=warn``)."""
    mode = os.environ.get("SAECOURSE_CLAIMS", "raise")
    if mode not in MODES:
        raise ValueError(f"SAECOURSE_CLAIMS must be one of {MODES}, got {mode!r}")
    return "warn" if is_smoke() else mode


def expect(condition: bool, statement: str, **figures: object) -> None:
    """Check a claim the text makes about this run and print it with its figures (``CHECKED`` keeps it).

    condition: what the sentence says, computed from the run (``bool`` or a one-element tensor).
    statement: the sentence, as the reader will read it next to the output.
    figures: the numbers it rests on, printed beside it (``neighbours=0.38``).
    Raises ``ClaimFailed`` when the claim is false at full size (see the module docstring).
    """
    claim = Claim(statement, bool(condition), dict(figures))
    CHECKED.append(claim)
    if claim.held:
        print(claim.line())
    elif claims_mode() == "warn":
        size = "smoke size" if is_smoke() else "SAECOURSE_CLAIMS=warn"
        print(f"{claim.line()}  [not true in this run; only warned at {size}]")
    else:
        raise ClaimFailed(f"The text claims something this run contradicts:\n{claim.line()}")
