"""The report on tiny literal tables: exact cells, suppression, truth, escaping, and the HTML
and Markdown in step. No linkage runs here (see test_study.py for the end-to-end run)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from linkage.reporting import charts as ch
from linkage.reporting.format import count, num, pct, rate_ci
from linkage.reporting.report import write_report
from linkage.summaries import LinkFacts, StudyManifest

SECRET = 0.4321  # a suppressed cell's value: must never reach the report

TABLES = f"""
create table raw_referrals as select 'R' || i as referral_id from range(1000) t(i);
create table raw_case_outcomes as
select 'C' || i as case_id, true as investigated, date '2024-02-01' as opened_at,
       case when i < 40 then date '2024-04-01' end as arrested_at,
       case when i < 30 then date '2024-05-01' end as charged_at,
       case when i < 20 then date '2024-09-01' end as convicted_at
from range(300) t(i);
create table links as
select 'R' || i as referral_id, 'C' || i as case_id, 0.9 as match_probability,
       5.0 as match_weight from range(250) t(i);
create table rates_tip_funnel as
select * from (values ('incident_type', 'ALL', 1, 'tips', 20000),
                      ('incident_type', 'ALL', 2, 'us_located', 1500),
                      ('incident_type', 'ALL', 3, 'referred', 900))
    t(dimension, stratum, step_order, step, n);
create table conversion_rates as
with stages(stage, k) as (values ('investigation', 1), ('arrest', 2), ('charge', 3),
                                 ('conviction', 4)),
methods(method, is_primary) as (values ('threshold', false), ('calibrated', true)),
offenses(offense_type, n) as (values ('ALL', 1000), ('alpha', 600), ('b<e>&ta', 400))
select o.offense_type, s.stage, o.n as n_referrals, 0.2 / s.k as estimate,
       0.2 / s.k - 0.01 as ci_low, 0.2 / s.k + 0.01 as ci_high, m.method, m.is_primary,
       'cumulative' as rate_kind, false as suppressed, 365 as follow_up_days
from stages s, methods m, offenses o
union all
select o.offense_type, s.stage, o.n, 0.5, 0.4, 0.6, m.method, m.is_primary, 'conditional',
       false, 365
from stages s, methods m, offenses o where s.k > 1;
create table conversion_rates_horizons as
with stages(stage, k) as (values ('investigation', 1), ('arrest', 2), ('charge', 3),
                                 ('conviction', 4)),
horizons(horizon_days, n_followed) as (values (180, 900), (365, 800), (500, 300))
select 'ALL' as offense_type, s.stage, h.horizon_days, h.horizon_days = 500 as is_longest,
       1000 as n_referrals, h.n_followed, 0.1 / s.k + h.horizon_days / 10000 as estimate,
       0.1 / s.k as ci_low, 0.1 / s.k + 0.1 as ci_high,
       s.stage = 'conviction' and h.horizon_days = 180 as suppressed
from stages s, horizons h;
update conversion_rates_horizons set estimate = null, ci_low = null, ci_high = null
where suppressed;
update conversion_rates set estimate = {SECRET}, suppressed = true
where offense_type = 'b<e>&ta' and stage = 'arrest' and rate_kind = 'cumulative';
create table conversion_rates_methods as
select * from (values ('threshold', false, 'best link above the threshold', 'window rule'),
                      ('calibrated', true, 'recalibrated on the audit sample', 'window rule'))
    t(method, is_primary, description, censoring);
create table conversion_rates_truth as
select offense_type, stage, rate_kind,
       case stage when 'investigation' then 0.25 else estimate end as truth, suppressed
from conversion_rates where is_primary;
create table conversion_rates_threshold as
select t.threshold, c.offense_type, c.stage, c.rate_kind, c.n_referrals,
       c.estimate * (1.2 - t.threshold / 2) as estimate, c.ci_low, c.ci_high, c.suppressed
from conversion_rates c, (values (0.5), (0.9)) t(threshold)
where c.method = 'threshold';
create table conversion_rates_strata as
select 'urgency' as dimension, u.stratum, c.stage, c.rate_kind, c.n_referrals, c.estimate,
       c.ci_low, c.ci_high, c.method, c.is_primary, c.suppressed
from conversion_rates c, (values ('ALL'), ('urgent'), ('not urgent')) u(stratum)
where c.offense_type = 'ALL';
"""


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "study.duckdb"))
    con.execute(TABLES)
    return con


def _report(con: duckdb.DuckDBPyConnection, out: Path,
            manifest: StudyManifest | None = None) -> tuple[str, str]:
    """Close the test's connection (the report opens the file read-only) and render."""
    db = con.execute("select path from duckdb_databases() where database_name = "
                     "current_database()").fetchall()[0][0]
    con.close()
    write_report(db, out / "report", manifest=manifest)
    return ((out / "report" / "report.html").read_text(encoding="utf-8"),
            (out / "report" / "report.md").read_text(encoding="utf-8"))


def _linkage(threshold: float, n_candidate_pairs: int = 0) -> StudyManifest:
    facts = LinkFacts(threshold=threshold, score_floor=0.001,
                      probability_two_random_records_match=1e-4, n_referrals=1000, n_cases=300,
                      n_candidate_pairs=n_candidate_pairs, n_scored_pairs=0, n_links=250,
                      n_cases_linked=250)
    return StudyManifest(input="generated", linkage=facts)


def test_conversion_table_is_a_pivot_of_the_primary_method(con, tmp_path: Path) -> None:
    _, md = _report(con, tmp_path)
    assert ("| ALL | 1,000 | 20.00% [19.00, 21.00] | 10.00% [9.00, 11.00] | "
            "6.67% [5.67, 7.67] | 5.00% [4.00, 6.00] |") in md
    assert "| b<e>&ta | 400 | 20.00% [19.00, 21.00] | suppressed | 6.67% [5.67, 7.67] |" in md
    # the stage-conditional table has one column per transition
    assert "| offense type | referrals | arrest \\| investigation | charge \\| arrest |" in md


def test_time_to_event_rates_by_horizon_and_in_the_summary(con, tmp_path: Path) -> None:
    _, md = _report(con, tmp_path)
    assert ("| 500 (longest) | 300 | 15.00% [10.00, 20.00] | 10.00% [5.00, 15.00] | "
            "8.33% [3.33, 13.33] | 7.50% [2.50, 12.50] |") in md
    assert "| 180 | 900 | 11.80% [10.00, 20.00] |" in md and "| suppressed |" in md
    assert "| conviction within 500 days (time to event) | 7.50% [2.50, 12.50] |" in md
    assert "| conviction within 365 days (primary, full follow-up) |" in md
    assert "Each offense type within 500 days" in md


def test_a_suppressed_cell_never_shows_its_value(con, tmp_path: Path) -> None:
    html, md = _report(con, tmp_path)
    for text in (html, md):
        assert f"{100 * SECRET:.2f}" not in text and str(SECRET) not in text
    assert html.count('class="sup"') >= 1


def test_truth_is_shown_beside_the_estimators_with_coverage(con, tmp_path: Path) -> None:
    _, md = _report(con, tmp_path)
    # investigation: truth 25% outside [19, 21] -> not covered; arrest: truth = estimate
    assert re.search(r"\| ALL \| investigation \|.*\| 25\.00% \| no \|", md)
    assert re.search(r"\| ALL \| arrest \|.*\| 10\.00% \| yes \|", md)
    assert "No truth available" not in md


def test_without_truth_the_report_says_so(con, tmp_path: Path) -> None:
    con.execute("drop table conversion_rates_truth")
    html, md = _report(con, tmp_path)
    assert "No truth available" in html and "No truth available" in md
    assert "covered" not in md and "dashed line: truth" not in md
    assert "observed (truth)" not in html
    assert "precision, recall and the true error rates cannot be measured" in md


def test_html_and_markdown_have_the_same_sections(con, tmp_path: Path) -> None:
    html, md = _report(con, tmp_path)
    h2 = re.findall(r"<h2>(.*?)</h2>", html)
    assert h2 == re.findall(r"^## (.*)$", md, flags=re.M)
    assert h2[:5] == ["Summary", "Study flow", "Conversion rates", "How far to trust these numbers",
                      "Time to event"]
    assert {"Estimators side by side", "Linkage quality", "Threshold sensitivity of the rates",
            "Rates by stratum", "Data quality", "Methods", "Scenario and run"} <= set(h2)


def test_html_is_self_contained_and_escapes_data(con, tmp_path: Path) -> None:
    html, _ = _report(con, tmp_path)
    assert "<script" not in html.lower() and "url(" not in html and "@import" not in html
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html)
    assert "b&lt;e&gt;&amp;ta" in html and "b<e>&ta" not in html
    svgs = re.findall(r"<svg [^>]*>", html)
    assert len(svgs) >= 4  # flow, funnel, estimators, threshold (reliability needs truth)
    for tag in svgs:
        w, h = re.search(r'width="(\d+)" height="(\d+)"', tag).groups()
        assert int(w) > 300 and int(h) > 100


def test_flow_counts_come_from_the_tables(con, tmp_path: Path) -> None:
    _, md = _report(con, tmp_path, manifest=_linkage(0.5, n_candidate_pairs=4321))
    for line in ("| tips received | 20,000 |",
                 "| excluded: outside the US or unknown | 18,500 |",
                 "| referrals | 1,000 |", "| candidate pairs (blocking) | 4,321 |",
                 "| referrals linked (p ≥ 0.5) | 250 |",
                 "| excluded: referrals not linked | 750 |",
                 "| linked, case reached arrest | 40 |",
                 "| linked, case reached conviction | 20 |"):
        assert line in md, line


def test_threshold_sensitivity_table_lists_each_threshold(con, tmp_path: Path) -> None:
    _, md = _report(con, tmp_path, manifest=_linkage(0.5))
    # estimate x (1.2 - t / 2): 0.2 -> 19.00% at t = 0.5 and 15.00% at t = 0.9
    assert re.search(r"\| p ≥ 0\.5 \(this run's links\) \| 19\.00% \[19\.00, 21\.00\]", md)
    assert re.search(r"\| p ≥ 0\.9 \| 15\.00%", md)
    assert re.search(r"\| truth \| 25\.00% \| 10\.00% \|", md)


def test_report_renders_with_only_raw_tables(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "raw.duckdb"))
    con.execute("create table raw_referrals as select 'R1' as referral_id")
    html, md = _report(con, tmp_path)
    assert "No conversion rates: the estimation stage did not run." in md
    assert "<h2>Methods</h2>" in html


@pytest.mark.parametrize(
    ("value", "expected"),
    [((0.1842, 0.1812, 0.187), "18.42% [18.12, 18.70]"), ((None, None, None), "–"),
     ((0.05, None, None), "5.00%")],
)
def test_rate_ci(value: tuple, expected: str) -> None:
    assert rate_ci(*value) == expected
    assert rate_ci(*value, suppressed=True) == "suppressed"


def test_number_formats() -> None:
    assert (pct(0.01455), count(16133.4), num(0.93726), num(3546), num(float("nan"))) == (
        "1.46%", "16,133", "0.9373", "3,546", "–")


def test_axis_ends_and_ticks_are_round() -> None:
    assert [ch.nice_max(v) for v in (0.0183, 0.19, 0.3, 0.7, 1.0)] == [0.02, 0.2, 0.5, 1.0, 1.0]
    assert ch.nice_ticks(0.25) == [0.0, 0.05, 0.1, 0.15, 0.2, 0.25]
    assert [ch.tick_label(v) for v in ch.nice_ticks(0.02)] == [
        "0%", "0.5%", "1%", "1.5%", "2%"]


def test_funnel_bar_widths_are_proportional_to_the_rates() -> None:
    svg = ch.funnel([ch.FunnelRow("referrals", 1.0), ch.FunnelRow("investigation", 0.25),
                     ch.FunnelRow("arrest", None, suppressed=True)])
    widths = [float(w) for w in re.findall(r'<rect [^>]*width="([\d.]+)"', svg)]
    assert widths == [520.0, 130.0]  # no bar for the suppressed stage
    assert ">suppressed<" in svg


def test_forest_draws_one_dot_per_unsuppressed_estimate_and_the_truth() -> None:
    rows = [ch.Interval("deterministic", 0.01, 0.008, 0.012),
            ch.Interval("calibrated", 0.014, 0.013, 0.015, primary=True),
            ch.Interval("weighted", None, suppressed=True)]
    svg = ch.forest([ch.ForestPanel("arrest", rows, truth=0.0137)])
    assert svg.count("<circle") == 2
    assert "truth 1.37%" in svg and "calibrated *" in svg
