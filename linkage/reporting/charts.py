"""Inline SVG charts for the offline report: no script, no external resource, fixed size.

Each builder takes plain numbers (aggregates only) and returns ``Markup`` holding one
``<svg>`` element with explicit ``width``/``height``, a ``viewBox``, ``role="img"`` and an
``aria-label``; every text from the data is escaped. Arrowheads are drawn as polygons
rather than SVG markers because markers are referenced through ``url(#id)``, and the
report promises no ``url(`` at all.

Example:
    >>> svg = funnel([FunnelRow("referrals", 1.0), FunnelRow("arrest", 0.0146)])
    >>> svg.startswith("<svg") and 'width="' in svg
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

from linkage.reporting.format import pct, rate_ci

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
BLUE, ORANGE, SKY, GREEN, VERMILLION, GREY = (
    "#0072b2", "#e69f00", "#56b4e9", "#009e73", "#d55e00", "#8c8c8c")
METHOD_COLOURS = {"deterministic": GREY, "threshold": ORANGE, "weighted": SKY,
                  "calibrated": BLUE}
TRUTH_COLOUR = VERMILLION
INK, MUTED, RULE = "#1b1f24", "#57606a", "#d0d7de"


def _svg(width: float, height: float, label: str, body: list[str]) -> Markup:
    head = (f'<svg width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} '
            f'{height:.0f}" role="img" aria-label="{escape(label)}">'
            f"<title>{escape(label)}</title>")
    return Markup(head + "".join(body) + "</svg>")


def _text(x: float, y: float, s: str, *, anchor: str = "start", size: int = 12,
          fill: str = INK, weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="{fill}" font-weight="{weight}">{escape(s)}</text>')


def _line(x1: float, y1: float, x2: float, y2: float, *, stroke: str = INK,
          width: float = 1.0, dash: str | None = None) -> str:
    d = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{stroke}" stroke-width="{width}"{d}/>')


def _rect(x: float, y: float, w: float, h: float, *, fill: str, stroke: str = "none",
          dash: str | None = None, rx: float = 0) -> str:
    d = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{h:.1f}" '
            f'rx="{rx}" fill="{fill}" stroke="{stroke}"{d}/>')


def _arrow(x1: float, y1: float, x2: float, y2: float, colour: str = MUTED) -> str:
    """A straight arrow with a polygon head at (x2, y2)."""
    angle = math.atan2(y2 - y1, x2 - x1)
    left = (x2 - 8 * math.cos(angle - 0.45), y2 - 8 * math.sin(angle - 0.45))
    right = (x2 - 8 * math.cos(angle + 0.45), y2 - 8 * math.sin(angle + 0.45))
    head = f"{x2:.1f},{y2:.1f} {left[0]:.1f},{left[1]:.1f} {right[0]:.1f},{right[1]:.1f}"
    return _line(x1, y1, x2, y2, stroke=colour, width=1.5) + (
        f'<polygon points="{head}" fill="{colour}"/>')


def nice_max(v: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above ``v`` (an axis end).

    Example:
        >>> nice_max(0.0183), nice_max(0.19)
        (0.02, 0.2)
    """
    if not v or v <= 0 or math.isnan(v):
        return 1.0
    base = 10 ** math.floor(math.log10(v))
    return next(m * base for m in (1, 2, 2.5, 5, 10) if m * base >= v * (1 - 1e-9))


def nice_ticks(top: float) -> list[float]:
    """Ticks from 0 to a ``nice_max`` value, four or five equal steps.

    Example:
        >>> nice_ticks(0.25), nice_ticks(0.02)
        ([0.0, 0.05, 0.1, 0.15, 0.2, 0.25], [0.0, 0.005, 0.01, 0.015, 0.02])
    """
    mantissa = round(top / 10 ** math.floor(math.log10(top)), 6)
    steps = 5 if mantissa in (2.5, 5.0) else 4
    return [round(top * i / steps, 12) for i in range(steps + 1)]


def tick_label(v: float) -> str:
    """A tick as a short percentage.

    Example:
        >>> tick_label(0.005), tick_label(0.125)
        ('0.5%', '12.5%')
    """
    return f"{100 * v:.2f}".rstrip("0").rstrip(".") + "%"


def _ok(v: float | None) -> bool:
    return v is not None and not math.isnan(v)


# --- study flow -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FlowStep:
    """One box of the flow diagram, with an optional side box (out of or into the flow)."""

    label: str
    n: int | None
    detail: str = ""
    side_label: str = ""
    side_n: int | None = None
    side_in: bool = False


def flow_diagram(steps: Sequence[FlowStep]) -> Markup:
    """CONSORT-style flow: the main path top to bottom, exclusions and inputs at the side.

    Example:
        >>> "Tips" in flow_diagram([FlowStep("Tips", 100), FlowStep("US", 8, side_n=92,
        ...                                    side_label="not US")])
        True
    """
    pitch, box_h, x0, w, sx, sw = 70, 46, 10, 380, 450, 330
    body: list[str] = []
    for i, s in enumerate(steps):
        top = 12 + i * pitch
        body.append(_rect(x0, top, w, box_h, fill="#f6f8fa", stroke=RULE, rx=4))
        body.append(_text(x0 + 12, top + 20, s.label, weight="600", size=13))
        n = "–" if s.n is None else f"{s.n:,}"
        body.append(_text(x0 + w - 12, top + 20, n, anchor="end", weight="600", size=14))
        if s.detail:
            body.append(_text(x0 + 12, top + 37, s.detail, size=11, fill=MUTED))
        if i:
            body.append(_arrow(x0 + w / 2, top - pitch + box_h, x0 + w / 2, top))
        if s.side_label:
            mid = top - (pitch - box_h) / 2
            body.append(_rect(sx, mid - 15, sw, 30, fill="#ffffff", stroke=RULE, rx=4))
            body.append(_text(sx + 10, mid + 4, s.side_label, size=12))
            sn = "–" if s.side_n is None else f"{s.side_n:,}"
            body.append(_text(sx + sw - 10, mid + 4, sn, anchor="end", size=12, weight="600"))
            if s.side_in:
                body.append(_arrow(sx, mid, x0 + w / 2 + 4, mid))
            else:
                body.append(_arrow(x0 + w / 2, mid, sx - 2, mid))
    height = 12 + len(steps) * pitch
    return _svg(sx + sw + 20, height, "study flow: counts at each stage", body)


# --- funnel ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelRow:
    """One funnel stage: the cumulative rate, its interval, the truth and a note."""

    label: str
    estimate: float | None
    low: float | None = None
    high: float | None = None
    suppressed: bool = False
    note: str = ""
    truth: float | None = None


def funnel(rows: Sequence[FunnelRow]) -> Markup:
    """Centred bars, width proportional to the share of referrals (linear: the drop is
    the message); the truth, where known, as a dashed outline.

    Example:
        >>> funnel([FunnelRow("referrals", 1.0)]).count("<rect")
        1
    """
    label_w, bar_w, row_h = 190, 520, 46
    cx = label_w + bar_w / 2 + 10
    body: list[str] = []
    for i, r in enumerate(rows):
        top = 10 + i * row_h
        body.append(_text(label_w, top + 17, r.label, anchor="end", weight="600"))
        if r.note:
            body.append(_text(label_w, top + 32, r.note, anchor="end", size=11, fill=MUTED))
        if r.suppressed or not _ok(r.estimate):
            body.append(_text(cx, top + 22, "suppressed" if r.suppressed else "–",
                              anchor="middle", fill=MUTED))
        else:
            w = max(bar_w * r.estimate, 1.5)
            body.append(_rect(cx - w / 2, top + 4, w, 28, fill=BLUE))
        if _ok(r.truth):
            tw = max(bar_w * r.truth, 1.5)
            body.append(_rect(cx - tw / 2, top + 1, tw, 34, fill="none", stroke=TRUTH_COLOUR,
                              dash="4 3"))
        value = rate_ci(r.estimate, r.low, r.high, suppressed=r.suppressed)
        body.append(_text(cx + bar_w / 2 + 16, top + 17, value))
        if _ok(r.truth):
            body.append(_text(cx + bar_w / 2 + 16, top + 32, f"truth {pct(r.truth)}",
                              size=11, fill=TRUTH_COLOUR))
    height = 16 + len(rows) * row_h
    return _svg(cx + bar_w / 2 + 200, height, "funnel: share of referrals reaching each stage",
                body)


# --- estimators side by side ----------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """One estimate with its interval (a row of a forest panel)."""

    label: str
    estimate: float | None
    low: float | None = None
    high: float | None = None
    suppressed: bool = False
    primary: bool = False


@dataclass(frozen=True)
class ForestPanel:
    """One panel of the forest plot: a stage, every method, and the truth if known."""

    title: str
    rows: Sequence[Interval]
    truth: float | None = None


def forest(panels: Sequence[ForestPanel], columns: int = 2) -> Markup:
    """Dot-and-whisker panels (one per stage), the truth as a dashed vertical line.

    Each panel has its own axis from 0, so small stages stay readable.

    Example:
        >>> p = ForestPanel("arrest", [Interval("calibrated", 0.014, 0.013, 0.015)], 0.0137)
        >>> forest([p]).count("<circle")
        1
    """
    label_w, plot_w, row_h, pad = 118, 300, 26, 20
    panel_w = label_w + plot_w + 40
    n_rows = max((len(p.rows) for p in panels), default=0)
    panel_h = 34 + n_rows * row_h + 34
    body: list[str] = []
    for k, p in enumerate(panels):
        ox, oy = pad + (k % columns) * panel_w, 10 + (k // columns) * panel_h
        values = [v for r in p.rows for v in (r.estimate, r.high) if _ok(v)]
        values += [p.truth] if _ok(p.truth) else []
        top = nice_max(max(values) * 1.05) if values else 1.0  # all suppressed: 0-100%
        x = lambda v, ox=ox, top=top: ox + label_w + plot_w * v / top  # noqa: E731
        body.append(_text(ox, oy + 14, p.title, weight="600", size=13))
        base = oy + 34 + len(p.rows) * row_h
        body.append(_line(x(0), base, x(top), base, stroke=MUTED))
        for v in nice_ticks(top):
            body.append(_line(x(v), oy + 26, x(v), base, stroke="#eef1f4"))
            body.append(_text(x(v), base + 15, tick_label(v), anchor="middle", size=10,
                              fill=MUTED))
        for j, r in enumerate(p.rows):
            y = oy + 34 + j * row_h + row_h / 2
            colour = METHOD_COLOURS.get(r.label, INK)
            body.append(_text(ox + label_w - 8, y + 4, r.label + (" *" if r.primary else ""),
                              anchor="end", weight="600" if r.primary else "normal"))
            if r.suppressed or not _ok(r.estimate):
                body.append(_text(x(0) + 4, y + 4, "suppressed" if r.suppressed else "–",
                                  size=11, fill=MUTED))
                continue
            if _ok(r.low) and _ok(r.high):
                body.append(_line(x(r.low), y, x(r.high), y, stroke=colour, width=2))
            body.append(f'<circle cx="{x(r.estimate):.1f}" cy="{y:.1f}" r="4.5" '
                        f'fill="{colour}"/>')
        if _ok(p.truth):
            body.append(_line(x(p.truth), oy + 26, x(p.truth), base, stroke=TRUTH_COLOUR,
                              width=1.5, dash="5 3"))
            body.append(_text(x(p.truth) + 3, oy + 24, f"truth {pct(p.truth)}", size=10,
                              fill=TRUTH_COLOUR))
    rows = math.ceil(len(panels) / columns)
    return _svg(2 * pad + min(columns, len(panels)) * panel_w, 20 + rows * panel_h,
                "estimators side by side, with the truth", body)


# --- calibration ----------------------------------------------------------------------------


def reliability(points: Sequence[tuple[float, float, int]],
                curve: Sequence[tuple[float, float]] = ()) -> Markup:
    """Reliability diagram: observed share of true pairs against the predicted probability
    per bin (dots sized by pairs), the audit-sample calibration curve, the diagonal.

    Example:
        >>> reliability([(0.9, 0.85, 100)], [(0.5, 0.4)]).count('fill-opacity="0.75"')
        1
    """
    size, ox, oy = 320, 56, 14
    sx = lambda v: ox + size * v  # noqa: E731
    sy = lambda v: oy + size * (1 - v)  # noqa: E731
    body = [_rect(ox, oy, size, size, fill="#fbfcfd", stroke=RULE)]
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        body.append(_text(sx(t), oy + size + 15, f"{t:g}", anchor="middle", size=10,
                          fill=MUTED))
        body.append(_text(ox - 6, sy(t) + 4, f"{t:g}", anchor="end", size=10, fill=MUTED))
    body.append(_line(sx(0), sy(0), sx(1), sy(1), stroke=MUTED, dash="3 3"))
    body.append(_text(ox + size / 2, oy + size + 32, "match probability (predicted)",
                      anchor="middle", size=11))
    body.append(f'<text x="14" y="{oy + size / 2:.0f}" font-size="11" text-anchor="middle" '
                f'transform="rotate(-90 14 {oy + size / 2:.0f})">share truly linked</text>')
    if curve:
        pts = " ".join(f"{sx(p):.1f},{sy(q):.1f}" for p, q in curve)
        body.append(f'<polyline points="{pts}" fill="none" stroke="{GREEN}" '
                    'stroke-width="2"/>')
    biggest = max((n for _, _, n in points), default=1) or 1
    for p, q, n in points:
        r = 3 + 9 * math.sqrt(n / biggest)
        body.append(f'<circle cx="{sx(p):.1f}" cy="{sy(q):.1f}" r="{r:.1f}" fill="{BLUE}" '
                    'fill-opacity="0.75"/>')
    lx, ly = ox + size + 18, oy + 20
    if points:
        body += [f'<circle cx="{lx + 6}" cy="{ly}" r="5" fill="{BLUE}"/>',
                 _text(lx + 16, ly + 4, "observed (truth), by bin", size=11)]
        ly += 24
    if curve:
        body += [_line(lx, ly, lx + 12, ly, stroke=GREEN, width=2),
                 _text(lx + 16, ly + 4, "audit-sample calibration", size=11)]
        ly += 24
    body += [_line(lx, ly, lx + 12, ly, stroke=MUTED, dash="3 3"),
             _text(lx + 16, ly + 4, "perfect calibration", size=11)]
    return _svg(lx + 190, oy + size + 42, "reliability of the match probabilities", body)


# --- threshold sensitivity ------------------------------------------------------------------


@dataclass(frozen=True)
class LinePanel:
    """One stage's rate against the threshold, with reference lines (label, value, colour)."""

    title: str
    points: Sequence[tuple[float, float | None, float | None, float | None]]
    references: Sequence[tuple[str, float | None, str]] = field(default_factory=tuple)


def threshold_lines(panels: Sequence[LinePanel]) -> Markup:
    """Small multiples: the ``threshold`` estimator's rate (with its CI band) against the
    link threshold, beside the primary estimate and the truth.

    Example:
        >>> p = LinePanel("arrest", [(0.5, 0.014, 0.013, 0.016), (0.9, 0.010, 0.009, 0.012)],
        ...               [("truth", 0.0137, TRUTH_COLOUR)])
        >>> "<polyline" in threshold_lines([p])
        True
    """
    pw, ph, lm, gap = 210, 170, 46, 26
    body: list[str] = []
    for k, p in enumerate(panels):
        ox, oy = 10 + k * (pw + lm + gap), 10
        pts = [(t, e, lo, hi) for t, e, lo, hi in p.points if _ok(e)]
        vals = [v for _, e, lo, hi in pts for v in (e, hi) if _ok(v)]
        vals += [v for _, v, _ in p.references if _ok(v)]
        top = nice_max(max(vals) * 1.05) if vals else 1.0
        sx = lambda v, ox=ox: ox + lm + pw * v  # noqa: E731
        sy = lambda v, oy=oy, top=top: oy + 22 + ph * (1 - v / top)  # noqa: E731
        body.append(_text(ox + lm, oy + 12, p.title, weight="600", size=13))
        body.append(_rect(sx(0), sy(top), pw, ph, fill="#fbfcfd", stroke=RULE))
        for v in nice_ticks(top):
            body.append(_text(sx(0) - 4, sy(v) + 4, tick_label(v), anchor="end", size=10,
                              fill=MUTED))
        for t in (0.0, 0.5, 1.0):
            body.append(_text(sx(t), sy(0) + 14, f"{t:g}", anchor="middle", size=10,
                              fill=MUTED))
        band = [(t, lo, hi) for t, _, lo, hi in pts if _ok(lo) and _ok(hi)]
        if len(band) > 1:
            ring = [f"{sx(t):.1f},{sy(hi):.1f}" for t, _, hi in band]
            ring += [f"{sx(t):.1f},{sy(lo):.1f}" for t, lo, _ in reversed(band)]
            body.append(f'<polygon points="{" ".join(ring)}" fill="{ORANGE}" '
                        'fill-opacity="0.22"/>')
        if pts:
            line = " ".join(f"{sx(t):.1f},{sy(e):.1f}" for t, e, _, _ in pts)
            body.append(f'<polyline points="{line}" fill="none" stroke="{ORANGE}" '
                        'stroke-width="2"/>')
            body += [f'<circle cx="{sx(t):.1f}" cy="{sy(e):.1f}" r="2.5" fill="{ORANGE}"/>'
                     for t, e, _, _ in pts]
        for _, v, colour in p.references:
            if _ok(v):
                dash = "5 3" if colour == TRUTH_COLOUR else None
                body.append(_line(sx(0), sy(v), sx(1), sy(v), stroke=colour, width=1.5,
                                  dash=dash))
        body.append(_text(sx(0.5), sy(0) + 28, "link threshold", anchor="middle", size=11))
    legend_y = 10 + 22 + ph + 48
    shown = {label for p in panels for label, v, _ in p.references if _ok(v)}
    legend = [("threshold estimator (95% CI band)", ORANGE, None)]
    legend += [("primary estimate", BLUE, None)] if "primary" in shown else []
    legend += [("truth", TRUTH_COLOUR, "5 3")] if "truth" in shown else []
    for i, (label, colour, dash) in enumerate(legend):
        lx = 10 + lm + i * 250
        body.append(_line(lx, legend_y - 4, lx + 18, legend_y - 4, stroke=colour, width=2,
                          dash=dash))
        body.append(_text(lx + 24, legend_y, label, size=11))
    width = 20 + len(panels) * (pw + lm + gap)
    return _svg(max(width, 800), legend_y + 12, "rates against the link threshold", body)
