"""Report sections about the study itself: key figures, the flow of records, linkage
quality, data quality and the run's parameters. Counts and rates only, never a record.

Example:
    >>> from linkage.db import connect
    >>> con = connect("study_out/study.duckdb", read_only=True)  # doctest: +SKIP
    >>> flow_section(con, {}).blocks[0].kind  # doctest: +SKIP
    'chart'
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import duckdb

from linkage.contract import ALL_STRATUM, STAGES
from linkage.db import table_exists
from linkage.reporting import charts as ch
from linkage.reporting.format import (
    MISSING,
    Chart,
    Code,
    Columns,
    Figures,
    Paragraph,
    Section,
    Table,
    count,
    num,
    pct,
    rate_ci,
)
from linkage.reporting.time_to_event import headline_items
from linkage.summaries import LinkFacts, StudyManifest, SuiteResult

QUARANTINE_TABLE = "quarantine_case_outcomes"


def _one(con: duckdb.DuckDBPyConnection, sql: str, needs: Sequence[str]) -> Any:
    """First value of an aggregate query, or None when a table it needs is missing."""
    if not all(table_exists(con, t) for t in needs):
        return None
    return con.sql(sql).fetchall()[0][0]


def _quarantine(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int]]:
    if not table_exists(con, QUARANTINE_TABLE):
        return []
    return con.sql(f"select reason, count(*) from {QUARANTINE_TABLE} group by 1 order by 1"
                   ).fetchall()


def _dq_tally(quality: Sequence[SuiteResult]) -> str:
    if not quality:
        return "not run"
    failed = sum(1 for r in quality if not r.success)
    warnings = sum(1 for r in quality for e in r.failures if not e.blocking)
    return f"{len(quality) - failed} of {len(quality)} suites passed, {warnings} warning(s)"


def summary_section(con: duckdb.DuckDBPyConnection, quality: Sequence[SuiteResult]) -> Section:
    """Key figures of the run (what a reader wants before the detail).

    Example:
        >>> summary_section(con, []).blocks[0].items[0]  # doctest: +SKIP
        ('referrals', '2,439')
    """
    n_ref = _one(con, "select count(*) from raw_referrals", ["raw_referrals"])
    n_links = _one(con, "select count(*) from links", ["links"])
    items = [("referrals", count(n_ref)),
             ("referrals linked", f"{count(n_links)} ({pct((n_links or 0) / n_ref, 1)})"
              if n_ref and n_links is not None else MISSING)]
    if table_exists(con, "conversion_rates"):
        rows = con.execute(
            "select stage, n_referrals, estimate, ci_low, ci_high, suppressed, follow_up_days "
            "from conversion_rates where is_primary and offense_type = $all and "
            "rate_kind = 'cumulative'", {"all": ALL_STRATUM}).fetchall()
        cells = {r[0]: r for r in rows}
        if cells:
            items.append(("with full follow-up", count(next(iter(cells.values()))[1])))
        for stage in ("investigation", "arrest", "conviction"):
            if stage in cells:
                _, _, e, lo, hi, s, days = cells[stage]
                items.append((f"{stage} within {days} days (primary, full follow-up)",
                              rate_ci(e, lo, hi, suppressed=s)))
        items += headline_items(con)
    f1 = _one(con, "select f1 from link_metrics where method = 'splink' and dimension = 'all'",
              ["link_metrics"])
    if f1 is not None:
        items.append(("linkage F1 against truth", num(f1, 3)))
    items.append(("data quality", _dq_tally(quality)))
    items.append(("case records quarantined", count(sum(n for _, n in _quarantine(con)))))
    return Section("summary", "Summary", [Figures(items)])


def flow_section(con: duckdb.DuckDBPyConnection, linkage: LinkFacts | None) -> Section:
    """Counts at each stage, tips to convictions (GUILD / RECORD: the flow of records).

    Example:
        >>> flow_section(con, None).title  # doctest: +SKIP
        'Study flow'
    """
    funnel = {}
    if table_exists(con, "rates_tip_funnel"):
        funnel = dict(con.execute("select step, n from rates_tip_funnel where stratum = $all",
                                  {"all": ALL_STRATUM}).fetchall())
    tips, us, referred = funnel.get("tips"), funnel.get("us_located"), funnel.get("referred")
    n_ref = _one(con, "select count(*) from raw_referrals", ["raw_referrals"])
    eligible = _one(con, "select count(*) filter (where eligible) from rates_referrals",
                    ["rates_referrals"])
    n_cases = _one(con, "select count(*) from raw_case_outcomes", ["raw_case_outcomes"])
    quarantined = sum(n for _, n in _quarantine(con))
    n_links = _one(con, "select count(*) from links", ["links"])
    pairs = linkage.n_candidate_pairs if linkage else None
    pair_label = "candidate pairs (blocking)"
    if pairs is None:  # a report written outside `linkage run`: the scored pairs are known
        pairs = _one(con, "select count(*) from scored_pairs", ["scored_pairs"])
        pair_label = "scored candidate pairs"
    reached = {}
    if n_links is not None:
        cols = ", ".join(f"count(c.{col}) filter (where c.investigated)" for _, col in STAGES)
        reached = dict(zip([s for s, _ in STAGES], con.sql(
            f"select {cols} from links as l join raw_case_outcomes as c using (case_id)"
        ).fetchall()[0], strict=True))

    def minus(a: int | None, b: int | None) -> int | None:
        return None if a is None or b is None else a - b

    def share(a: int | None, b: int | None, of: str) -> str:
        return f"{pct(a / b, 1)} of {of}" if a is not None and b else ""

    thr = linkage.threshold if linkage else None
    steps = [
        ch.FlowStep("tips received", tips, detail="reports to the tipline"),
        ch.FlowStep("located in the US", us, share(us, tips, "tips"),
                    side_label="outside the US or unknown", side_n=minus(tips, us)),
        ch.FlowStep("tips referred to law enforcement", referred,
                    share(referred, us, "US-located tips"),
                    side_label="US-located, not referred", side_n=minus(us, referred)),
        ch.FlowStep("referrals", n_ref, detail=f"{eligible:,} with full follow-up (the rate "
                    "denominators)" if eligible is not None else ""),
        ch.FlowStep(pair_label, pairs, detail="referral × case pairs sharing a blocking key",
                    side_label="case records linked against"
                    + (f" ({quarantined:,} quarantined)" if quarantined else ""),
                    side_n=n_cases, side_in=True),
        ch.FlowStep("referrals linked" + (f" (p ≥ {thr:g})" if thr is not None else ""),
                    n_links, share(n_links, n_ref, "referrals"),
                    side_label="referrals not linked", side_n=minus(n_ref, n_links)),
    ]
    previous, of = n_links, "linked referrals"
    for stage, _ in STAGES:
        steps.append(ch.FlowStep(f"linked, case reached {stage}", reached.get(stage),
                                 share(reached.get(stage), previous, of)))
        previous, of = reached.get(stage), f"those reaching {stage}"
    rows = []
    for s in steps:  # a side box sits before its step in the diagram: same order here
        if s.side_label:
            rows.append([("joined: " if s.side_in else "excluded: ") + s.side_label,
                         count(s.side_n)])
        rows.append([s.label, count(s.n)])
    return Section("flow", "Study flow", [
        Paragraph("Counts at each stage, from tips to convictions (a tip may be referred to "
                  "more than one agency). The linked stages count "
                  "referrals linked at the threshold whose case recorded the stage (observed "
                  "dates, no censoring): a descriptive count, not a rate estimate."),
        Columns([Chart(ch.flow_diagram(steps),
                       "Flow of records (side boxes: excluded or joined)."),
                 Table(["stage", "count"], rows, "Counts")]),
    ])


def _table(con: duckdb.DuckDBPyConnection, sql: str, columns: list[str], caption: str,
           params: dict[str, Any] | None = None) -> Table:
    rows = [[num(v) for v in r] for r in con.execute(sql, params).fetchall()]
    return Table(columns, rows, caption)


_AUDIT_RATES = """
    with audit as (
        select referral_id, bool_or(is_audit_pair and is_link) as right_link,
            bool_or(is_link and not is_audit_pair) as wrong_link,
            bool_or(is_audit_pair) as audited
        from rates_pairs group by referral_id
    )
    select count(*) filter (where wrong_link)
            / nullif(count(*) filter (where wrong_link or right_link), 0),
        count(*) filter (where not right_link) / nullif(count(*), 0)
    from audit where audited
"""


def error_rates_table(con: duckdb.DuckDBPyConnection) -> Table:
    """False- and missed-link rates from every source the study has: label-free (from the
    probabilities), the cybertip_ref audit (the referrals whose case recorded their tip:
    not a designed sample), the clerical review (design-weighted, with 95% intervals) and
    the truth (synthetic data)."""
    rows = {"false-link rate": [MISSING] * 4, "missed-link rate": [MISSING] * 4,
            "blocking recall": [MISSING] * 4}
    if table_exists(con, "link_error_rates"):
        (fl, ofl, ml, oml, recall), = con.sql(
            "select expected_false_link_rate, observed_false_link_rate, "
            "expected_missed_link_rate, observed_missed_link_rate, blocking_recall "
            "from link_error_rates").fetchall()
        rows["false-link rate"][0], rows["false-link rate"][3] = num(fl), num(ofl)
        rows["missed-link rate"][0], rows["missed-link rate"][3] = num(ml), num(oml)
        rows["blocking recall"][3] = num(recall)
    if table_exists(con, "rates_pairs"):
        fl, ml = con.sql(_AUDIT_RATES).fetchall()[0]
        rows["false-link rate"][1], rows["missed-link rate"][1] = num(fl), num(ml)
    if table_exists(con, "review_error_rates"):
        for rate, est, lo, hi, n in con.sql(
                "select rate, estimate, ci_low, ci_high, n_reviewed from review_error_rates "
                "where offense_type = $all", params={"all": ALL_STRATUM}).fetchall():
            rows[f"{rate.replace('_', '-')} rate"][2] = (
                f"{num(est)} [{num(lo)}, {num(hi)}] ({count(n)} reviewed)")
    return Table(["measure", "label-free (from probabilities)", "audit (cybertip_ref)",
                  "clerical review", "against truth"],
                 [[k, *v] for k, v in rows.items()],
                 "Error rates: label-free, from the audit and from a clerical review, beside "
                 "the measured ones where truth is known")


def linkage_section(con: duckdb.DuckDBPyConnection) -> Section:
    """Linkage quality: blocking recall, error rates, P/R/F1 by subgroup, calibration.

    Example:
        >>> linkage_section(con).blocks[0].caption  # doctest: +SKIP
        'Error rates: what a study without truth would estimate, beside the measured ones'
    """
    sec = Section("linkage", "Linkage quality")
    curve = []
    if table_exists(con, "rates_calibration"):
        curve = con.sql("select (p_low + p_high) / 2, calibrated from rates_calibration "
                        "order by p_low").fetchall()
    if not table_exists(con, "link_metrics"):
        sec.blocks.append(Paragraph(
            "No truth is available for these data (user data): precision, recall and the "
            "true error rates cannot be measured. Shown: the error rates the cybertip_ref "
            "audit and a clerical review measure, and the match-probability calibration "
            "fitted on the audit sample, which needs no truth."))
        sec.blocks.append(error_rates_table(con))
        if curve:
            sec.blocks.append(Chart(ch.reliability([], curve), "Audit-sample calibration."))
        return sec
    sec.blocks.append(error_rates_table(con))
    sec.blocks.append(_table(
        con, "select method, n_links, tp, fp, fn, precision, recall, f1 from link_metrics "
        "where dimension = 'all' order by method = 'splink' desc, method",
        ["method", "links", "true pos.", "false pos.", "false neg.", "precision", "recall",
         "F1"], "Splink and the deterministic baselines, all referrals"))
    for dim, title in (("offense_type", "offense type"), ("reporter_type", "reporter type")):
        sec.blocks.append(_table(
            con, "select stratum, n_true, n_links, precision, recall, f1 from link_metrics "
            "where method = 'splink' and dimension = $dim order by stratum",
            [title, "true pairs", "links", "precision", "recall", "F1"],
            f"Splink by {title}", {"dim": dim}))
    points = con.sql("select mean_predicted, observed_share_true, n_pairs from "
                     "link_reliability where population = 'candidates' order by bin_low"
                     ).fetchall()
    sec.blocks.append(Columns([
        Chart(ch.reliability(points, curve),
              "Reliability: dots on the diagonal are calibrated probabilities."),
        _table(con, "select bin_low || '–' || bin_high, n_pairs, mean_predicted, "
               "observed_share_true from link_reliability where population = 'candidates' "
               "order by bin_low",
               ["match probability", "pairs", "mean predicted", "share truly linked"],
               "Reliability by probability bin (candidate pairs)")]))
    sec.blocks.append(_table(
        con, "select threshold::varchar, n_links, precision, recall, f1, expected_precision, "
        "expected_recall from link_threshold_sweep order by threshold",
        ["threshold", "links", "precision", "recall", "F1", "expected precision",
         "expected recall"], "Link-level threshold sweep (best case per referral)"))
    return sec


def quality_section(con: duckdb.DuckDBPyConnection, manifest: StudyManifest | None) -> Section:
    """Data-quality gates per suite, their warnings, and the quarantine.

    Example:
        >>> quality_section(con, manifest).blocks[0].columns[0]  # doctest: +SKIP
        'suite'
    """
    sec = Section("quality", "Data quality")
    quality = manifest.quality if manifest else ()
    if quality:
        sec.blocks.append(Table(
            ["suite", "table", "stage", "result", "expectations", "critical failed",
             "warnings"],
            [[r.suite, r.table, r.stage, "pass" if r.success else "FAIL", count(len(r.results)),
              count(sum(1 for e in r.failures if e.blocking)),
              count(sum(1 for e in r.failures if not e.blocking))] for r in quality],
            "great-expectations suites (critical failures stop the run)", 4))
        failed = [[r.suite, e.severity, e.description, e.column or MISSING,
                   count(e.unexpected_count), pct(None if e.unexpected_percent is None
                                                  else e.unexpected_percent / 100)]
                  for r in quality for e in r.failures]
        if failed:
            sec.blocks.append(Table(["suite", "severity", "expectation", "column",
                                     "rows", "share"], failed,
                                    "Expectations not met (counts only)", 4))
    else:
        sec.blocks.append(Paragraph("The data-quality suites were not run for this report."))
    reasons = _quarantine(con)
    total = sum(n for _, n in reasons)
    n_cases = _one(con, "select count(*) from raw_case_outcomes", ["raw_case_outcomes"])
    sec.blocks.append(Paragraph(
        f"Quarantined case records (stage dates out of order): {total:,} of "
        f"{count(n_cases)}, listed in table {QUARANTINE_TABLE} with a reason and left out "
        "of linkage (raw_case_outcomes keeps every record as loaded)."))
    if reasons:
        sec.blocks.append(Table(["reason", "rows"], [[r, count(n)] for r, n in reasons],
                                "Quarantine by reason"))
    return sec


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [kv for k, v in value.items() for kv in _flatten(v, f"{prefix}{k}.")]
    return [(prefix.rstrip("."), num(value, 4) if isinstance(value, float) else str(value))]


def scenario_section(manifest: StudyManifest | None) -> Section:
    """The scenario's parameters (synthetic runs), the run's versions and the manifest.

    Example:
        >>> scenario_section(None).blocks[1].text
        'User data: no scenario.'
    """
    sec = Section("run", "Scenario and run")
    plain = manifest.to_dict() if manifest else {}
    sc = plain.get("scenario")
    facts = [(k, MISSING if plain.get(k) is None else str(plain[k])) for k in ("input", "seed")]
    facts += [(f"version: {k}", v) for k, v in plain.get("versions", {}).items()]
    if plain.get("timings"):  # wall times vary between identical runs: kept out of here
        facts.append(("seconds per stage", f"in {plain['timings']}"))
    sec.blocks.append(_packed(facts, "Run"))
    if sc:
        offenses = sc.get("offense", [])
        sec.blocks.append(Table(
            ["offense type", "referral share", "P(investigation)", "P(arrest | inv.)",
             "P(charge | arrest)", "P(conviction | charge)", "urgent share"],
            [[o["name"], *(num(o.get(k), 3) for k in ("share", "investigate", "arrest",
                                                      "charge", "convict", "urgent_share"))]
             for o in offenses],
            "Scenario: assumed conversion per offense type (no public source has them)"))
        rest = {k: v for k, v in sc.items() if k != "offense"}
        sec.blocks.append(_packed(_flatten(rest), "Scenario: every other parameter"))
    else:
        sec.blocks.append(Paragraph("User data: no scenario."))
    sec.blocks.append(Code(json.dumps(plain, indent=2), "manifest.json"))
    return sec


def _packed(items: list[tuple[str, str]], caption: str, per_row: int = 3) -> Table:
    """Key-value pairs packed ``per_row`` to a table row (long lists stay short)."""
    rows = []
    for i in range(0, len(items), per_row):
        chunk = items[i:i + per_row] + [("", "")] * (per_row - len(items[i:i + per_row]))
        rows.append([x for kv in chunk for x in kv])
    return Table(["parameter", "value"] * per_row, rows, caption, 2 * per_row)
