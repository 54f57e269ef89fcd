"""The study report: ``report.html`` (self-contained, offline: inline CSS and SVG, no
scripts) and ``report.md``, built from the study database's aggregate tables only."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import jinja2

from linkage.db import table_exists

_TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class Section:
    """One report table: a title, a note and the rows of an aggregate query."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""
    empty: str = "Not available for this run."
    text_cols: int = 1


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _query(con: duckdb.DuckDBPyConnection, title: str, sql: str, needs: tuple[str, ...],
           note: str = "", text_cols: int = 1) -> Section:
    if not all(table_exists(con, t) for t in needs):
        return Section(title, [], [], note)
    rel = con.sql(sql)
    rows = [[_fmt(v) for v in r] for r in rel.fetchall()]
    return Section(title, list(rel.columns), rows, note, text_cols=text_cols)


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(con.sql(sql).fetchall()[0][0] or 0)


def _flow(con: duckdb.DuckDBPyConnection, link_summary: Any) -> list[tuple[str, int, float]]:
    stages = [("tips", "select count(*) from raw_tips"),
              ("US-located", "select count(*) from raw_tips where country = 'US'"),
              ("referred", "select count(*) from raw_referrals"),
              ("case records", "select count(*) from raw_case_outcomes")]
    linked = ("from links l join raw_case_outcomes c using (case_id) where c.investigated")
    stages += [("linked referrals", "select count(*) from links"),
               ("linked, investigated", f"select count(*) {linked}"),
               ("linked, arrested", f"select count(*) {linked} and c.arrested_at is not null"),
               ("linked, charged", f"select count(*) {linked} and c.charged_at is not null"),
               ("linked, convicted", f"select count(*) {linked} and c.convicted_at is not null")]
    counts = [(label, _scalar(con, sql)) for label, sql in stages]
    if link_summary is not None:
        counts.insert(4, ("candidate pairs", link_summary.n_candidate_pairs))
    top = max(n for _, n in counts) or 1
    # Bars on a log scale: tips outnumber convictions by four orders of magnitude.
    return [(label, n, math.log10(n + 1) / math.log10(top + 1)) for label, n in counts]


def _sections(con: duckdb.DuckDBPyConnection, evaluation: Any, quality_results: list[Any],
              quarantine: Any) -> list[Section]:
    rates_cols = "offense_type, stage, n_referrals, estimate, ci_low, ci_high, method"
    out = [
        _query(con, "Conversion rates (primary estimate)",
               f"select {rates_cols} from conversion_rates where is_primary "
               "order by offense_type = 'ALL' desc, offense_type, stage",
               ("conversion_rates",),
               "Share of referrals whose case reached each stage, with 95% CIs that include "
               "linkage uncertainty. Small cells are suppressed (shown as –).", 2),
        _query(con, "Estimators side by side (all offense types)",
               f"select {rates_cols} from conversion_rates where offense_type = 'ALL' "
               "order by stage, method", ("conversion_rates",), text_cols=2),
        _query(con, "Linkage quality against truth",
               "select method, n_links, tp, fp, fn, precision, recall, f1 from link_metrics "
               "where dimension = 'all' order by method", ("link_metrics",),
               "Pairwise precision, recall and F1 of Splink's links and the deterministic "
               "baselines (synthetic data only)."),
        _query(con, "Linkage quality by offense type (Splink)",
               "select stratum, n_links, precision, recall, f1 from link_metrics where "
               "method = 'splink' and dimension = 'offense_type' order by stratum",
               ("link_metrics",)),
        _query(con, "Label-free vs true error rates",
               "select n_links, blocking_recall, expected_false_link_rate, "
               "observed_false_link_rate, expected_missed_link_rate, observed_missed_link_rate "
               "from link_error_rates", ("link_error_rates",),
               "Expected false- and missed-link rates from the match probabilities alone "
               "(what a study without truth sees) beside the measured ones."),
        _query(con, "Calibration of match probabilities",
               "select * from link_reliability order by 1, 2", ("link_reliability",),
               "Predicted probability vs observed share of true links, by probability bin.",
               text_cols=1),
        _query(con, "Threshold sensitivity", "select * from link_threshold_sweep order by 1",
               ("link_threshold_sweep",)),
    ]
    dq_rows = [[r.suite, r.stage, "pass" if r.success else "FAIL", len(r.results),
                sum(1 for e in r.failures if not e.blocking)] for r in quality_results]
    out.append(Section("Data quality", ["suite", "stage", "result", "expectations",
                                        "warnings"], [[_fmt(v) for v in r] for r in dq_rows],
                       f"Quarantined case records (stage dates out of order): "
                       f"{quarantine.n_quarantined:,} of {quarantine.n_rows:,}.", text_cols=3))
    return out


def write_report(con: duckdb.DuckDBPyConnection, out: Path, *, manifest: dict[str, Any],
                 link_summary: Any = None, evaluation: Any = None,
                 quality_results: list[Any] | None = None, quarantine: Any = None) -> Path:
    """Write ``report.html`` and ``report.md`` into ``out``; return the HTML path.

    Example:
        >>> write_report(con, Path("study_out"), manifest={})  # doctest: +SKIP
    """
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    sections = _sections(con, evaluation, quality_results or [], quarantine)
    flow = _flow(con, link_summary)
    html = env.get_template("report.html.j2").render(
        manifest=manifest, has_truth=evaluation is not None, flow=flow, sections=sections,
        charts=sorted(link_summary.charts) if link_summary else [],
        manifest_json=json.dumps(manifest, indent=2))
    path = out / "report.html"
    path.write_text(html, encoding="utf-8")
    (out / "report.md").write_text(_markdown(flow, sections), encoding="utf-8")
    return path


def _markdown(flow: list[tuple[str, int, float]], sections: list[Section]) -> str:
    lines = ["# Linkage study report", "", "## Study flow", "", "| stage | count |", "|---|---|"]
    lines += [f"| {label} | {n:,} |" for label, n, _ in flow]
    for s in sections:
        lines += ["", f"## {s.title}", ""]
        if s.note:
            lines += [s.note, ""]
        if not s.rows:
            lines.append(s.empty)
            continue
        lines.append("| " + " | ".join(s.columns) + " |")
        lines.append("|" + "---|" * len(s.columns))
        lines += ["| " + " | ".join(r) + " |" for r in s.rows]
    return "\n".join(lines) + "\n"
