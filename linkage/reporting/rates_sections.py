"""Report sections about the rates: the conversion table, the funnel, the estimators beside
the truth, threshold sensitivity, strata and the methods. Aggregate tables only
(``conversion_rates*``, ``rates_*``); suppressed cells show ``suppressed``, never a value.

Example:
    >>> from linkage.db import connect
    >>> con = connect("study_out/study.duckdb", read_only=True)  # doctest: +SKIP
    >>> conversion_section(con).title  # doctest: +SKIP
    'Conversion rates'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import duckdb

from linkage.contract import ALL_STRATUM, STAGES
from linkage.db import table_exists
from linkage.reporting import charts as ch
from linkage.reporting.format import (
    MISSING,
    Chart,
    Paragraph,
    Section,
    Table,
    count,
    pct,
    rate_ci,
)
from linkage.summaries import EstimateFacts, LinkFacts

STAGE_NAMES = tuple(name for name, _ in STAGES)
CONDITIONAL_LABELS = {s: f"{s} | {prev}" for prev, s in zip(STAGE_NAMES[:-1], STAGE_NAMES[1:],
                                                               strict=True)}
STRATA_DIMENSIONS = (("urgency", "Urgency"), ("completeness", "Identifier completeness"),
                     ("reporter_type", "Reporter type"), ("reporter_name", "Reporter"))
_CELL = "n_referrals, estimate, ci_low, ci_high, suppressed"


@dataclass(frozen=True)
class Cell:
    """One published rate cell."""

    n: int | None
    estimate: float | None
    low: float | None
    high: float | None
    suppressed: bool

    def text(self) -> str:
        return rate_ci(self.estimate, self.low, self.high, suppressed=self.suppressed)


def _cells(con: duckdb.DuckDBPyConnection, keys: str, table: str, where: str,
           params: dict | None = None) -> dict[tuple, Cell]:
    """Rate cells keyed by the ``keys`` columns (``table`` and ``where`` are constants)."""
    rows = con.execute(f"select {keys}, {_CELL} from {table} where {where}", params).fetchall()
    k = len(keys.split(","))
    return {tuple(_float(v) for v in r[:k]): Cell(r[k], *(_float(v) for v in r[k + 1:k + 4]),
                                                  bool(r[k + 4]))
            for r in rows}


def _float(v: object) -> object:
    """Numbers as float (DuckDB hands DECIMAL columns over as ``Decimal``)."""
    return float(v) if isinstance(v, (float, Decimal)) else v


def _strata(keys: Iterable[str]) -> list[str]:
    """ALL first, then the strata in order (whatever categories the data hold)."""
    found = sorted({k for k in keys if k != ALL_STRATUM})
    return [ALL_STRATUM, *found]


def _text(cells: dict[tuple, Cell], key: tuple) -> str:
    cell = cells.get(key)
    return cell.text() if cell else MISSING


def primary_method(con: duckdb.DuckDBPyConnection) -> str | None:
    """The method marked primary in ``conversion_rates`` (None before estimation).

    Example:
        >>> primary_method(con)  # doctest: +SKIP
        'calibrated'
    """
    if not table_exists(con, "conversion_rates"):
        return None
    rows = con.sql("select distinct method from conversion_rates where is_primary").fetchall()
    return rows[0][0] if rows else None


def _truth(con: duckdb.DuckDBPyConnection) -> dict[tuple, float | None]:
    """(offense, stage, kind) -> true rate, suppressed cells None; empty without truth."""
    if not table_exists(con, "conversion_rates_truth"):
        return {}
    rows = con.sql("select offense_type, stage, rate_kind, truth from conversion_rates_truth")
    return {(o, s, k): t for o, s, k, t in rows.fetchall()}


def _pivot(cells: dict[tuple, Cell], stages: Iterable[str], labels: dict[str, str],
           caption: str, first: str = "offense type") -> Table:
    stages = list(stages)
    n_of = {s: c.n for (s, _), c in cells.items()}
    rows = [[stratum, count(n_of.get(stratum)), *(_text(cells, (stratum, st)) for st in stages)]
            for stratum in _strata(n_of)]
    return Table([first, "referrals", *(labels.get(s, s) for s in stages)], rows, caption)


def conversion_section(con: duckdb.DuckDBPyConnection) -> Section:
    """The primary conversion table (cumulative and stage-conditional) and the funnel.

    Example:
        >>> [b.kind for b in conversion_section(con).blocks]  # doctest: +SKIP
        ['paragraph', 'table', 'table', 'chart']
    """
    sec = Section("conversion", "Conversion rates")
    method = primary_method(con)
    if method is None:
        sec.blocks.append(Paragraph("No conversion rates: the estimation stage did not run."))
        return sec
    where = "is_primary and rate_kind = $kind"
    cum = _cells(con, "offense_type, stage", "conversion_rates", where, {"kind": "cumulative"})
    cond = _cells(con, "offense_type, stage", "conversion_rates", where,
                  {"kind": "conditional"})
    truth = _truth(con)
    sec.blocks += [
        Paragraph(f"Primary method: {method}. Share of referrals (with full follow-up) whose "
                  "case reached each stage, in percent, with its 95% confidence interval "
                  "[low, high] including linkage uncertainty. 'suppressed' marks a small "
                  "cell withheld by disclosure control."),
        _pivot(cum, STAGE_NAMES, {}, "Cumulative: share of all referrals"),
        _pivot(cond, STAGE_NAMES[1:], CONDITIONAL_LABELS,
               "Stage-conditional: share of the referrals reaching the previous stage"),
    ]
    everyone = cum.get((ALL_STRATUM, STAGE_NAMES[0]))
    rows = [ch.FunnelRow("referrals", 1.0, note=f"{count(everyone.n if everyone else None)}"
                         " with full follow-up")]
    for st in STAGE_NAMES:
        c = cum.get((ALL_STRATUM, st)) or Cell(None, None, None, None, False)
        given = cond.get((ALL_STRATUM, st))
        shown = given is not None and not given.suppressed and given.estimate is not None
        note = f"{pct(given.estimate)} of the previous stage" if shown else ""
        rows.append(ch.FunnelRow(st, c.estimate, c.low, c.high, c.suppressed, note,
                                 truth.get((ALL_STRATUM, st, "cumulative"))))
    caption = "Funnel, all offense types (primary method); bar width is the share of referrals"
    caption += "; dashed outline: the truth." if truth else "."
    sec.blocks.append(Chart(ch.funnel(rows), caption))
    return sec


def _methods(con: duckdb.DuckDBPyConnection) -> list[tuple[str, bool, str, str]]:
    if not table_exists(con, "conversion_rates_methods"):
        return []
    return con.sql("select method, is_primary, description, censoring "
                   "from conversion_rates_methods order by rowid").fetchall()


def estimators_section(con: duckdb.DuckDBPyConnection) -> Section:
    """Every estimator side by side, with the truth on synthetic data.

    Example:
        >>> estimators_section(con).blocks[2].caption  # doctest: +SKIP
        'All offense types'
    """
    sec = Section("estimators", "Estimators side by side")
    methods = [m for m, *_ in _methods(con)]
    if not methods:
        sec.blocks.append(Paragraph("Not available: the estimation stage did not run."))
        return sec
    cells = _cells(con, "method, offense_type, stage, rate_kind", "conversion_rates", "true")
    truth = _truth(con)
    primary = primary_method(con)
    sec.blocks.append(Paragraph(
        "The same referrals under each estimator (see Methods). " + (
            "The truth is the realised share of these referrals reaching the stage under "
            "the same censoring rule (synthetic data only); 'covered' says whether the "
            "primary interval holds it." if truth else
            "No truth is available for these data (user data), so bias cannot be shown.")))
    panels = []
    for st in STAGE_NAMES:
        rows = [ch.Interval(m, c.estimate, c.low, c.high, c.suppressed, m == primary)
                for m in methods
                if (c := cells.get((m, ALL_STRATUM, st, "cumulative"))) is not None]
        panels.append(ch.ForestPanel(st, rows, truth.get((ALL_STRATUM, st, "cumulative"))))
    sec.blocks.append(Chart(ch.forest(panels), "All offense types, cumulative rates: estimate"
                            " and 95% CI per method (* primary)"
                            + ("; dashed line: truth." if truth else ".")))
    columns = ["offense type", "rate", *methods] + (["truth", "covered"] if truth else [])
    for title, offenses in (("All offense types", [ALL_STRATUM]),
                            ("By offense type", _strata(k[1] for k in cells)[1:])):
        rows = []
        for offense in offenses:
            if offense != ALL_STRATUM and all(
                    c.suppressed for (_, o, _, _), c in cells.items() if o == offense):
                rows.append([offense, "every stage", *(["suppressed"] * (len(columns) - 2))])
                continue  # one line instead of a block of suppressed cells
            for kind in ("cumulative", "conditional"):
                stages = STAGE_NAMES if kind == "cumulative" else STAGE_NAMES[1:]
                if kind == "conditional" and offense != ALL_STRATUM:
                    continue  # per offense, the cumulative rates keep the table readable
                for st in stages:
                    label = st if kind == "cumulative" else CONDITIONAL_LABELS[st]
                    row = [offense, label, *(_text(cells, (m, offense, st, kind))
                                             for m in methods)]
                    if truth:
                        row += _truth_cells(truth.get((offense, st, kind)),
                                            cells.get((primary, offense, st, kind)))
                    rows.append(row)
        sec.blocks.append(Table(columns, rows, title, 2))
    return sec


def _truth_cells(true: float | None, primary: Cell | None) -> list[str]:
    if true is None or primary is None or primary.suppressed:
        return ["suppressed" if primary is not None and primary.suppressed else MISSING,
                MISSING]
    if primary.low is None or primary.high is None:
        return [pct(true), MISSING]
    return [pct(true), "yes" if primary.low <= true <= primary.high else "no"]


def threshold_section(con: duckdb.DuckDBPyConnection, link_threshold: float | None) -> Section:
    """The ``threshold`` estimator's rates at several link thresholds.

    Example:
        >>> threshold_section(con, 0.5).title  # doctest: +SKIP
        'Threshold sensitivity of the rates'
    """
    sec = Section("threshold", "Threshold sensitivity of the rates")
    if not table_exists(con, "conversion_rates_threshold"):
        sec.blocks.append(Paragraph("Not computed for this run."))
        return sec
    cells = _cells(con, "threshold, stage", "conversion_rates_threshold",
                   "offense_type = $all and rate_kind = 'cumulative'", {"all": ALL_STRATUM})
    primary = primary_method(con)
    ref = _cells(con, "stage", "conversion_rates", "is_primary and offense_type = $all and "
                 "rate_kind = 'cumulative'", {"all": ALL_STRATUM}) if primary else {}
    truth = _truth(con)
    thresholds = sorted({t for t, _ in cells})
    sec.blocks.append(Paragraph(
        "Each referral's best candidate case counts as its link when its match probability "
        "reaches the threshold (the threshold estimator, Wilson 95% CIs treating links as "
        "true). A rate that moves with the threshold is sensitive to linkage error; the "
        f"primary estimate ({primary}) does not use a threshold."))
    panels = []
    for st in STAGE_NAMES:
        pts = [(t, c.estimate, c.low, c.high) for t in thresholds
               if (c := cells.get((t, st))) is not None and not c.suppressed]
        refs = [("primary", ref[(st,)].estimate if (st,) in ref else None, ch.BLUE),
                ("truth", truth.get((ALL_STRATUM, st, "cumulative")), ch.TRUTH_COLOUR)]
        panels.append(ch.LinePanel(st, pts, refs))
    sec.blocks.append(Chart(ch.threshold_lines(panels),
                            "All offense types, cumulative rates against the link threshold."))
    rows = []
    for t in thresholds:
        mark = " (this run's links)" if link_threshold is not None and abs(
            t - link_threshold) < 1e-9 else ""
        rows.append([f"p ≥ {t:g}{mark}", *(_text(cells, (t, st)) for st in STAGE_NAMES)])
    if ref:
        rows.append([f"primary ({primary})", *(_text(ref, (st,)) for st in STAGE_NAMES)])
    if truth:
        rows.append(["truth", *(pct(v) if (v := truth.get((ALL_STRATUM, st, "cumulative")))
                                is not None else "suppressed" for st in STAGE_NAMES)])
    sec.blocks.append(Table(["threshold", *STAGE_NAMES], rows,
                            "All offense types, cumulative rates by threshold"))
    return sec


def strata_section(con: duckdb.DuckDBPyConnection) -> Section:
    """Primary cumulative rates by urgency, identifier completeness and reporter.

    Strata whose every cell is suppressed are counted, not listed (hundreds of small
    reporters would otherwise fill pages with 'suppressed').

    Example:
        >>> [t.caption for t in strata_section(con).blocks[1:]]  # doctest: +SKIP
        ['Urgency', 'Identifier completeness', 'Reporter type', 'Reporter (231 ...)']
    """
    sec = Section("strata", "Rates by stratum")
    if not table_exists(con, "conversion_rates_strata"):
        sec.blocks.append(Paragraph("Not available: the estimation stage did not run."))
        return sec
    sec.blocks.append(Paragraph(
        "Primary method, cumulative share of referrals. Linkage error differs by stratum "
        "because identifier completeness does; compare with linkage quality by subgroup."))
    for dim, title in STRATA_DIMENSIONS:
        cells = _cells(con, "stratum, stage", "conversion_rates_strata",
                       "is_primary and rate_kind = 'cumulative' and dimension = $d", {"d": dim})
        if not cells:
            continue
        visible = {s for (s, _), c in cells.items() if not c.suppressed}
        shown = {k: c for k, c in cells.items() if k[0] in visible}
        table = _pivot(shown, STAGE_NAMES, {}, title, first=dim.replace("_", " "))
        hidden = len({s for s, _ in cells}) - len({s for s, _ in shown})
        if hidden:
            table = Table(table.columns, table.rows, f"{title} ({hidden:,} further strata, "
                          "every cell suppressed, not listed)", table.text_cols)
        sec.blocks.append(table)
    return sec


def methods_section(con: duckdb.DuckDBPyConnection, linkage: LinkFacts | None = None,
                    estimation: EstimateFacts | None = None) -> Section:
    """What each estimator does, the censoring rule, suppression and the linkage model.

    Example:
        >>> methods_section(con).blocks[0].columns  # doctest: +SKIP
        ['method', 'primary', 'what it does']
    """
    sec = Section("methods", "Methods")
    methods = _methods(con)
    if methods:
        sec.blocks.append(Table(["method", "primary", "what it does"],
                                [[m, "yes" if p else "no", d] for m, p, d, _ in methods],
                                "Estimators", 3))
        sec.blocks.append(Paragraph(f"Censoring rule: {methods[0][3]}. Outcomes after the "
                                    "study end date are not observed, so only referrals with "
                                    "the full follow-up window enter any denominator."))
    if estimation is not None and (estimation.min_numerator or estimation.min_denominator):
        sec.blocks.append(Paragraph(
            f"Disclosure control: a cell is suppressed when its (rounded expected) numerator "
            f"is below {estimation.min_numerator} or it rests on fewer than "
            f"{estimation.min_denominator} referrals; when a group of cells adding up to ALL "
            "has exactly one suppressed cell, the next smallest is suppressed too."))
    elif estimation is not None:
        sec.blocks.append(Paragraph("Disclosure control: off for this run (no cell is "
                                    "suppressed)."))
    if linkage:
        sec.blocks.append(Paragraph(
            f"Linkage: Splink 5 (unsupervised: no truth read), links at match probability ≥ "
            f"{linkage.threshold:g}; scored pairs kept at ≥ {linkage.score_floor:g}; prior "
            f"match probability λ = {linkage.probability_two_random_records_match:.3g}. "
            "Model: model.json; Splink's charts: charts/ beside this report."))
    return sec
