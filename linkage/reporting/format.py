"""How the report writes numbers (rates as percentages, intervals, counts, suppression) and
the blocks a report section is made of.

One place, so the HTML, the Markdown and the terminal summary agree on every figure.

Example:
    >>> rate_ci(0.1842, 0.1812, 0.187)
    '18.42% [18.12, 18.70]'
    >>> rate_ci(None, None, None, suppressed=True)
    'suppressed'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from linkage.contract import STAGES

SUPPRESSED = "suppressed"
"""What a suppressed cell shows instead of its value (never the value)."""
MISSING = "–"
"""What a cell without a value shows (not computed, or 0 / 0)."""


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def pct(v: float | None, digits: int = 2) -> str:
    """A fraction as a percentage.

    Example:
        >>> pct(0.01455)
        '1.46%'
    """
    return MISSING if _missing(v) else f"{100 * float(v):.{digits}f}%"


def rate_ci(est: float | None, lo: float | None, hi: float | None, *,
            suppressed: bool = False) -> str:
    """``estimate [low, high]`` in percent, or ``suppressed``.

    Example:
        >>> rate_ci(0.05, 0.04, 0.06)
        '5.00% [4.00, 6.00]'
    """
    if suppressed:
        return SUPPRESSED
    if _missing(est):
        return MISSING
    if _missing(lo) or _missing(hi):
        return pct(est)
    return f"{pct(est)} [{100 * float(lo):.2f}, {100 * float(hi):.2f}]"


def count(n: float | None) -> str:
    """A count with thousands separators (expected counts are rounded).

    Example:
        >>> count(16133.4)
        '16,133'
    """
    return MISSING if _missing(n) else f"{round(float(n)):,}"


def num(v: Any, digits: int = 4) -> str:
    """Any table value: floats to ``digits`` decimals, ints with separators, else text.

    Example:
        >>> num(0.93726), num(3546), num(True)
        ('0.9373', '3,546', 'yes')
    """
    if _missing(v):
        return MISSING
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.{digits}f}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


# --- what a report section is made of (rendered by both templates) -------------------------


@dataclass(frozen=True)
class Table:
    """A table of already formatted cells; the first ``text_cols`` columns are text."""

    columns: list[str]
    rows: list[list[str]]
    caption: str = ""
    text_cols: int = 1
    kind: str = "table"


@dataclass(frozen=True)
class Chart:
    """An inline SVG chart (HTML only: the Markdown shows its table instead)."""

    svg: Markup
    caption: str = ""
    kind: str = "chart"


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of plain text (escaped in HTML)."""

    text: str
    kind: str = "paragraph"


@dataclass(frozen=True)
class Figures:
    """Key figures (label, value): cards in HTML, a two-column table in Markdown."""

    items: list[tuple[str, str]]
    kind: str = "figures"


@dataclass(frozen=True)
class Code:
    """Preformatted text, collapsed in HTML (the manifest)."""

    text: str
    summary: str
    language: str = "json"
    kind: str = "code"


@dataclass(frozen=True)
class Columns:
    """Blocks side by side in HTML (a chart and its table), one after another in Markdown."""

    blocks: list[Table | Chart | Paragraph]
    kind: str = "columns"


@dataclass
class Section:
    """One ``<h2>`` of the report: an anchor, a title and its blocks in order."""

    key: str
    title: str
    blocks: list[Table | Chart | Paragraph | Figures | Code | Columns] = field(
        default_factory=list)


def headline_table(con: Any, primary: str) -> list[str]:
    """The primary method's cumulative rates, offense type x stage in percent, as lines
    (suppressed cells shown as such).

    Example:
        >>> print(chr(10).join(headline_table(con, "calibrated")))  # doctest: +SKIP
    """
    stage_names = [s for s, _ in STAGES]
    rows = con.sql("select offense_type, stage, n_referrals, estimate, ci_low, ci_high, "
                   "suppressed from conversion_rates where is_primary and rate_kind = "
                   "'cumulative'").fetchall()
    cells = {(o, s): (n, e, (lo, hi), sup) for o, s, n, e, lo, hi, sup in rows}
    offenses = ["ALL", *sorted({o for o, _ in cells} - {"ALL"})]
    width = max(len(o) for o in offenses)
    lines = [f"share of referrals reaching each stage ({primary}, percent [95% CI]):",
             f"  {'offense type':<{width}} {'referrals':>9} "
             + " ".join(f"{s:>20}" for s in stage_names)]
    for o in offenses:
        n = next((v[0] for (oo, _), v in cells.items() if oo == o), None)
        vals = []
        for s in stage_names:
            _, e, (lo, hi), sup = cells.get((o, s), (None, None, (None, None), False))
            ci = "" if lo is None or hi is None else f" [{100 * lo:.1f}, {100 * hi:.1f}]"
            vals.append(SUPPRESSED if sup else "–" if e is None else f"{100 * e:.2f}%{ci}")
        lines.append(f"  {o:<{width}} {count(n):>9} " + " ".join(f"{v:>20}" for v in vals))
    return lines
