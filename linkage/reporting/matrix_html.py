"""``matrix.csv`` and ``matrix.html``: the stress matrix, and its heatmaps of bias and coverage.

One self-contained page (inline CSS, no script, font, image or link fetched): first a
grid of worlds x methods (max |bias| and mean coverage), then per method a bias heatmap
(colour = bias relative to the true rate, text = bias in percentage points) and a
coverage heatmap (green at the nominal 95%, red far below it; blue above, too wide) with
the cells as rows and the worlds as columns.

Example:
    >>> coverage_colour(0.95), coverage_colour(0.2)
    ('#b7e4c1', '#f2a7a0')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pandas as pd

from linkage.errors import ConfigError
from linkage.outputs import atomic_write_text
from linkage.reporting.simulation import headline, matrix_table
from linkage.resources import templates_dir

METHOD_ORDER = ("calibrated", "threshold", "weighted", "deterministic")
FULL_COLOUR_RELATIVE_BIAS = 0.25
"""Relative bias (bias / true rate) drawn at full colour."""
NOMINAL = 0.95


def coverage_colour(cov: float | None) -> str:
    """Background of a coverage cell: green within 0.93-0.97, shading to yellow and red
    below, light blue above (intervals wider than needed)."""
    if cov is None or math.isnan(cov):
        return "#eeeeee"
    if cov > 0.97:
        return "#cfe3f7"
    if cov >= 0.93:
        return "#b7e4c1"
    if cov >= 0.85:
        return "#fbeaa5"
    if cov >= 0.6:
        return "#f8c99a"
    return "#f2a7a0"


def bias_colour(bias: float | None, truth: float | None) -> str:
    """Background of a bias cell: red above the truth, blue below, by relative bias."""
    if bias is None or truth is None or math.isnan(bias) or math.isnan(truth):
        return "#eeeeee"
    rel = bias / truth if truth > 0 else (0.0 if bias == 0 else math.copysign(1.0, bias))
    t = min(abs(rel) / FULL_COLOUR_RELATIVE_BIAS, 1.0)
    target = (214, 96, 77) if rel > 0 else (67, 147, 195)
    rgb = tuple(round(255 + (c - 255) * t) for c in target)
    return "#{:02x}{:02x}{:02x}".format(*rgb)


@dataclass(frozen=True)
class Heatmap:
    """One table under ``columns``: rows of (group, label, [(text, colour), ...]); a row
    whose group differs from the previous one's starts with a group header."""

    title: str
    columns: list[str]
    rows: list[tuple[str, str, list[tuple[str, str]]]]


def _cells(matrix: pd.DataFrame, min_referrals: float) -> pd.DataFrame:
    """The (rate kind, offense type, stage) rows shown: ALL and every offense type with at
    least ``min_referrals`` referrals on average in some world."""
    big = matrix.groupby("offense_type")["n_referrals"].max()
    keep = set(big[big >= min_referrals].index) | {"ALL"}
    cells = matrix[matrix.offense_type.isin(keep)][["rate_kind", "offense_type", "stage"]]
    cells = cells.drop_duplicates()
    order = {"investigation": 0, "arrest": 1, "charge": 2, "conviction": 3}
    return cells.assign(
        k=cells.rate_kind.map({"cumulative": 0, "conditional": 1}),
        a=cells.offense_type != "ALL", s=cells.stage.map(order),
    ).sort_values(["k", "a", "offense_type", "s"])[["rate_kind", "offense_type", "stage"]]


PREVIOUS = {"arrest": "investigation", "charge": "arrest", "conviction": "charge"}


def _heatmaps(matrix: pd.DataFrame, worlds: list[str], method: str, kind: str,
              min_referrals: float) -> tuple[Heatmap, Heatmap]:
    cells = _cells(matrix, min_referrals)
    cells = cells[cells.rate_kind == kind]
    sub = matrix[matrix.method == method].set_index(
        ["rate_kind", "offense_type", "stage", "world"])
    bias_rows, cov_rows = [], []
    for kind, offense, stage in cells.itertuples(index=False):
        label = stage if kind == "cumulative" else f"{stage} | {PREVIOUS.get(stage, '')}"
        b_row, c_row = [], []
        for w in worlds:
            key = (kind, offense, stage, w)
            if key not in sub.index:
                b_row.append(("", "#ffffff"))
                c_row.append(("", "#ffffff"))
                continue
            r = sub.loc[key]
            b_row.append((f"{100 * r.bias:+.2f}", bias_colour(r.bias, r.truth_mean)))
            c_row.append((f"{r.coverage:.2f}", coverage_colour(r.coverage)))
        bias_rows.append((offense, label, b_row))
        cov_rows.append((offense, label, c_row))
    return (Heatmap(f"{method}, {kind}: bias (points)", worlds, bias_rows),
            Heatmap(f"{method}, {kind}: coverage of the 95% interval", worlds, cov_rows))


def render_matrix_html(matrix: pd.DataFrame, *, params: Mapping[str, object],
                       descriptions: Mapping[str, str] | None = None,
                       min_referrals: float = 500.0) -> str:
    """The page as a string (see the module docstring).

    Example:
        >>> html = render_matrix_html(matrix, params={"scale": 0.05})  # doctest: +SKIP
    """
    worlds = list(dict.fromkeys(matrix["world"]))
    present = set(matrix["method"])
    methods = [m for m in METHOD_ORDER if m in present] + sorted(present - set(METHOD_ORDER))
    head = headline(matrix, min_referrals=min_referrals).set_index(["world", "method"])
    grid = []
    for w in worlds:
        row = []
        for m in methods:
            if (w, m) not in head.index:
                row.append(("", "#ffffff"))
                continue
            h = head.loc[(w, m)]
            row.append((f"{h.max_abs_bias_pp:.2f} pp · {h.mean_coverage:.2f}",
                        coverage_colour(h.mean_coverage)))
        grid.append(("", w, row))
    glance = Heatmap("max |bias| (points) · mean coverage, cumulative rates", methods, grid)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates_dir()),
                             autoescape=jinja2.select_autoescape(["html.j2"]))
    return env.get_template("matrix.html.j2").render(
        params=dict(params), glance=glance,
        panels=[(m, _heatmaps(matrix, worlds, m, "cumulative", min_referrals)) for m in methods],
        conditional=[(m, _heatmaps(matrix, worlds, m, "conditional", min_referrals))
                     for m in methods],
        descriptions=dict(descriptions or {}), worlds=worlds, min_referrals=min_referrals,
        full_colour=int(100 * FULL_COLOUR_RELATIVE_BIAS))


def write_matrix_html(matrix: pd.DataFrame, path: str | Path, *,
                      params: Mapping[str, object],
                      descriptions: Mapping[str, str] | None = None,
                      min_referrals: float = 500.0) -> Path:
    """Write ``render_matrix_html`` to ``path`` (via a temporary file, then renamed)."""
    path = Path(path)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_matrix_html(matrix, params=params, descriptions=descriptions,
                                      min_referrals=min_referrals), encoding="utf-8")
    tmp.replace(path)
    return path


MATRIX_FILE = "matrix.csv"
MATRIX_HTML = "matrix.html"


def write_matrix(files: Sequence[Path], folder: Path, *, worlds: Sequence[str],
                 params: Mapping[str, object],
                 descriptions: Mapping[str, str]) -> tuple[pd.DataFrame, int]:
    """(Re)write ``folder/matrix.csv`` and ``folder/matrix.html`` from replicate-row CSV
    ``files``, worlds in the order of ``worlds``; return the matrix and the files read."""
    if not files:
        raise ConfigError(f"matrix folder {folder}: no replicate finished")
    reps = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    order = {name: k for k, name in enumerate(worlds)}
    matrix = matrix_table(reps).sort_values("world", key=lambda w: w.map(order),
                                            kind="stable").reset_index(drop=True)
    atomic_write_text(Path(folder) / MATRIX_FILE, matrix.to_csv(index=False))
    write_matrix_html(matrix, Path(folder) / MATRIX_HTML, params=params,
                      descriptions=descriptions)
    return matrix, len(files)
