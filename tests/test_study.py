"""`linkage run` end to end on a tiny study: outputs, the terminal summary, atomic
replacement, an offline report without identifiers that agrees with the tables, and the
report rendered by headless Chromium with the network off."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result

from linkage.cli import main
from linkage.reporting.format import rate_ci

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    out = tmp_path_factory.mktemp("run") / "study_out"
    result = CliRunner().invoke(main, ["run", "--scale", "0.003", "--seed", "4",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result


@pytest.fixture(scope="module")
def study(run: tuple[Path, Result]) -> Path:
    return run[0]


@pytest.fixture(scope="module")
def db(study: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(study / "study.duckdb"), read_only=True)
    yield con
    con.close()


def test_run_writes_every_output(study: Path) -> None:
    for name in ("study.duckdb", "links.parquet", "conversion_rates.csv", "report.html",
                 "report.md", "manifest.json", "model.json"):
        assert (study / name).is_file(), name
    manifest = json.loads((study / "manifest.json").read_text())
    assert manifest["versions"]["splink"].startswith("5.")
    assert manifest["seed"] == 4 and manifest["row_counts"]["raw_referrals"] > 0
    timings = json.loads((study / manifest["timings"]).read_text())
    assert set(timings["stage_seconds"]) >= {"generate", "load", "validate", "link",
                                             "estimate", "report"}
    assert manifest["linkage"]["threshold"] == 0.5
    assert manifest["linkage"]["n_candidate_pairs"] >= manifest["linkage"]["n_links"] > 0
    assert manifest["estimation"]["primary"] == "calibrated"
    rates = duckdb.sql(f"select * from read_csv('{study / 'conversion_rates.csv'}')")
    assert {"offense_type", "stage", "n_referrals", "estimate", "ci_low", "ci_high",
            "method"} <= set(rates.columns)


def test_the_terminal_summary_says_where_and_shows_the_headline(
    run: tuple[Path, Result], db: duckdb.DuckDBPyConnection
) -> None:
    out, result = run
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"study written to {out} in ")
    assert "report.html" in lines[1] and "study.duckdb" in lines[1]
    assert re.match(r"linkage: [\d,]+ of [\d,]+ referrals linked at p >= 0\.5; against truth "
                    r"precision 0\.\d{3}, recall 0\.\d{3}, F1 0\.\d{3}$", lines[2])
    assert re.match(r"data quality: 7 of 7 suites passed, \d+ warning\(s\); ", lines[3])
    n, inv = db.sql("select n_referrals, estimate from conversion_rates where is_primary and "
                    "offense_type = 'ALL' and stage = 'investigation' and "
                    "rate_kind = 'cumulative'").fetchall()[0]
    all_row = next(line for line in lines if line.strip().startswith("ALL "))
    assert f"{n:,}" in all_row and f"{100 * inv:.2f}%" in all_row
    assert "Traceback" not in result.output and "splink" not in result.output


def _identifiers(study: Path) -> set[str]:
    con = duckdb.connect(str(study / "study.duckdb"), read_only=True)
    values: set[str] = set()
    for table, cols in {
        "raw_tips": ("tip_id", "suspect_email", "suspect_username", "suspect_phone",
                     "suspect_ip"),
        "raw_referrals": ("referral_id", "tip_id", "email", "phone", "username", "ip"),
        "raw_case_outcomes": ("case_id", "email", "phone", "username", "cybertip_ref"),
    }.items():
        for col in cols:
            values |= {r[0] for r in con.sql(f"select distinct {col}::varchar from {table} "
                                             f"where {col} is not null").fetchall()}
    for table in ("raw_case_outcomes", "raw_referrals"):
        values |= {r[0] for r in con.sql(
            f"select distinct first_name || ' ' || last_name from {table} "
            "where first_name is not null and last_name is not null").fetchall()}
    con.close()
    return values


def test_report_is_offline_and_holds_no_identifier(study: Path) -> None:
    ids = _identifiers(study)
    assert len(ids) > 1000
    for name in ("report.html", "report.md", "manifest.json"):
        text = (study / name).read_text(encoding="utf-8")
        leaked = [v for v in ids if v in text]
        assert leaked == [], f"{name} contains {len(leaked)} identifier value(s)"
    html = (study / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html)
    assert not re.search(r"https?://", html)
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert "@import" not in html and "url(" not in html


def test_report_agrees_with_the_tables(study: Path, db: duckdb.DuckDBPyConnection) -> None:
    md = (study / "report.md").read_text(encoding="utf-8")
    row = db.sql("select estimate, ci_low, ci_high, suppressed from conversion_rates where "
                 "is_primary and offense_type = 'ALL' and rate_kind = 'cumulative' order by "
                 "case stage when 'investigation' then 1 when 'arrest' then 2 when 'charge' "
                 "then 3 else 4 end").fetchall()
    n = db.sql("select count(*) filter (where eligible) from rates_referrals").fetchall()[0][0]
    cells = " | ".join(rate_ci(e, lo, hi, suppressed=s) for e, lo, hi, s in row)
    assert f"| ALL | {n:,} | {cells} |" in md
    n_ref, n_links = db.sql("select (select count(*) from raw_referrals), "
                            "(select count(*) from links)").fetchall()[0]
    assert f"| referrals | {n_ref:,} |" in md
    assert f"| referrals linked (p ≥ 0.5) | {n_links:,} |" in md
    suppressed = db.sql("select count(*) from conversion_rates where is_primary and "
                        "suppressed").fetchall()[0][0]
    assert suppressed > 0 and md.count("suppressed") >= suppressed // 4


def test_threshold_sensitivity_reuses_the_threshold_estimator(
    db: duckdb.DuckDBPyConnection,
) -> None:
    # at the run's own threshold, the sensitivity table is the `threshold` method itself
    diff = db.sql(
        "select count(*), count(*) filter (where s.suppressed <> c.suppressed or "
        "abs(coalesce(s.estimate, -1) - coalesce(c.estimate, -1)) > 1e-12 or "
        "abs(coalesce(s.ci_high, -1) - coalesce(c.ci_high, -1)) > 1e-12) "
        "from conversion_rates_threshold s join conversion_rates c using "
        "(offense_type, stage, rate_kind) where s.threshold = 0.5 and c.method = 'threshold'"
    ).fetchall()[0]
    assert diff[0] >= 28 and diff[1] == 0
    thresholds = [r[0] for r in db.sql(
        "select distinct threshold from conversion_rates_threshold order by 1").fetchall()]
    assert len(thresholds) >= 5
    # a higher threshold links fewer referrals: the rates cannot rise
    inv = [r[0] for r in db.sql(
        "select estimate from conversion_rates_threshold where offense_type = 'ALL' and "
        "stage = 'investigation' and rate_kind = 'cumulative' order by threshold").fetchall()]
    assert inv == sorted(inv, reverse=True) and inv[0] > inv[-1]


def test_truth_uses_the_estimators_censoring_rule(db: duckdb.DuckDBPyConnection) -> None:
    # recomputed here from truth_referrals: eligible referrals, stage within the window
    expected = dict(db.sql(
        "select s.stage, avg(coalesce(t.investigated and case s.stage when 'investigation' "
        "then t.opened_at when 'arrest' then t.arrested_at when 'charge' then t.charged_at "
        "else t.convicted_at end <= r.referred_date + 365, false)::double) "
        "from rates_referrals r left join truth_referrals t using (referral_id), "
        "(values ('investigation'), ('arrest'), ('charge'), ('conviction')) s(stage) "
        "where r.eligible group by s.stage").fetchall())
    got = db.sql("select stage, truth, suppressed from conversion_rates_truth where "
                 "offense_type = 'ALL' and rate_kind = 'cumulative'").fetchall()
    assert len(got) == 4
    for stage, truth, suppressed in got:
        assert suppressed or truth == pytest.approx(expected[stage]), stage
    # truth is hidden exactly where the primary estimate is
    mismatch = db.sql("select count(*) from conversion_rates_truth t join conversion_rates c "
                      "using (offense_type, stage, rate_kind) where c.is_primary and "
                      "(t.suppressed <> c.suppressed or (t.truth is null) <> c.suppressed)"
                      ).fetchall()[0][0]
    assert mismatch == 0


def test_rerun_into_the_same_folder_replaces_it_and_a_failure_keeps_the_old(
    study: Path, tmp_path: Path
) -> None:
    out = tmp_path / "s"
    shutil.copytree(study, out)
    (out / "stale.txt").write_text("old")
    bad = CliRunner().invoke(main, ["--quiet", "run", "--input", str(tmp_path / "none"),
                                    "--out", str(out)])
    assert bad.exit_code == 4
    assert bad.stdout == ""  # --quiet: the error goes to stderr, nothing else is printed
    assert (out / "stale.txt").exists()  # a failed run leaves the previous outputs whole
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.environ.get("CI"):
        pytest.fail("chromium is required in CI (.ci/run installs it)")
    return found


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_report_renders_in_headless_chromium_with_the_network_off(study: Path,
                                                                  tmp_path: Path) -> None:
    chromium = _chromium()
    if chromium is None:
        pytest.skip("chromium not installed (CI installs it)")
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars",
             # Network off: every host resolves nowhere and any proxy use fails.
             "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"]
    url = (study / "report.html").as_uri()
    dom = subprocess.run(flags + ["--dump-dom", url], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    h2 = re.findall(r"<h2>(.*?)</h2>", dom)
    md = (study / "report.md").read_text(encoding="utf-8")
    assert h2 == re.findall(r"^## (.*)$", md, flags=re.M)  # the Markdown is in step
    assert {"Study flow", "Conversion rates", "Estimators side by side", "Linkage quality",
            "Threshold sensitivity of the rates", "Data quality", "Methods"} <= set(h2)
    assert dom.count("<table") >= 12 and "suppressed</td>" in dom
    svgs = re.findall(r"<svg [^>]*>", dom)
    assert len(svgs) == 5  # flow, funnel, estimators, reliability, threshold
    for tag in svgs:
        w, h = (int(v) for v in re.search(r'width="(\d+)" height="(\d+)"', tag).groups())
        assert w >= 400 and h >= 200, tag
    assert dom.count("<circle") >= 20 and dom.count("<rect") >= 20
    shot = tmp_path / "report.png"
    subprocess.run(flags + [f"--screenshot={shot}", "--window-size=1280,4000", url],
                   capture_output=True, timeout=120, check=True)
    assert _png_size(shot) == (1280, 4000)
    assert shot.stat().st_size > 200_000  # a blank page compresses to a few kB
    keep = os.environ.get("LINKAGE_REPORT_SCREENSHOT")
    if keep:  # where a developer wants to look at it
        shutil.copy(shot, keep)


def test_horizon_intervals_are_about_as_wide_as_the_windows_at_the_window(
        db: duckdb.DuckDBPyConnection) -> None:
    """At 365 days the time-to-event rate estimates what the 365-day window does, from the
    same bootstrap refits: its interval for these referrals is of the same width."""
    at = db.sql(
        "select h.ci_high - h.ci_low as h_width, w.ci_high - w.ci_low as w_width"
        " from conversion_rates_horizons as h join conversion_rates as w using"
        " (offense_type, stage) where h.horizon_days = 365 and w.method = 'calibrated'"
        " and w.rate_kind = 'cumulative' and h.offense_type = 'ALL'"
        " and h.estimate is not null and w.estimate is not null").df()
    assert len(at) and (at.w_width > 0).all()
    assert (at.h_width / at.w_width).between(0.5, 2.0).all(), at.to_dict()
