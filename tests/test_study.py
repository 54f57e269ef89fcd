"""`linkage run` end to end on a tiny study: outputs, atomic replacement, an offline report
without identifiers, and the report rendered by headless Chromium with the network off."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from linkage.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "study_out"
    result = CliRunner().invoke(main, ["--quiet", "run", "--scale", "0.003", "--seed", "4",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_run_writes_every_output(study: Path) -> None:
    for name in ("study.duckdb", "links.parquet", "conversion_rates.csv", "report.html",
                 "report.md", "manifest.json", "model.json"):
        assert (study / name).is_file(), name
    manifest = json.loads((study / "manifest.json").read_text())
    assert manifest["versions"]["splink"].startswith("5.")
    assert manifest["seed"] == 4 and manifest["row_counts"]["raw_referrals"] > 0
    assert set(manifest["stage_seconds"]) >= {"generate", "load", "validate", "link",
                                              "estimate", "report"}
    rates = duckdb.sql(f"select * from read_csv('{study / 'conversion_rates.csv'}')")
    assert {"offense_type", "stage", "n_referrals", "estimate", "ci_low", "ci_high",
            "method"} <= set(rates.columns)


def _identifiers(study: Path) -> set[str]:
    con = duckdb.connect(str(study / "study.duckdb"), read_only=True)
    values: set[str] = set()
    for table, cols in {
        "raw_referrals": ("referral_id", "tip_id", "email", "phone", "username", "ip"),
        "raw_case_outcomes": ("case_id", "email", "phone", "username", "cybertip_ref"),
    }.items():
        for col in cols:
            values |= {r[0] for r in con.sql(f"select distinct {col}::varchar from {table} "
                                             f"where {col} is not null").fetchall()}
    names = con.sql("select distinct first_name || ' ' || last_name from raw_case_outcomes "
                    "where first_name is not null and last_name is not null").fetchall()
    con.close()
    return values | {r[0] for r in names}


def test_report_is_offline_and_holds_no_identifier(study: Path) -> None:
    ids = _identifiers(study)
    assert len(ids) > 100
    for name in ("report.html", "report.md", "manifest.json"):
        text = (study / name).read_text(encoding="utf-8")
        leaked = [v for v in ids if v in text]
        assert leaked == [], f"{name} contains {len(leaked)} identifier value(s)"
    html = (study / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html)
    assert "<script" not in html.lower()
    assert "@import" not in html and "url(" not in html


def test_rerun_into_the_same_folder_replaces_it_and_a_failure_keeps_the_old(
    study: Path, tmp_path: Path
) -> None:
    out = tmp_path / "s"
    shutil.copytree(study, out)
    (out / "stale.txt").write_text("old")
    bad = CliRunner().invoke(main, ["--quiet", "run", "--input", str(tmp_path / "none"),
                                    "--out", str(out)])
    assert bad.exit_code == 4
    assert (out / "stale.txt").exists()  # a failed run leaves the previous outputs whole
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.environ.get("CI"):
        pytest.fail("chromium is required in CI (.ci/run installs it)")
    return found


def test_report_renders_in_headless_chromium_with_the_network_off(study: Path,
                                                                  tmp_path: Path) -> None:
    chromium = _chromium()
    if chromium is None:
        pytest.skip("chromium not installed (CI installs it)")
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             # Network off: every host resolves nowhere and any proxy use fails.
             "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"]
    url = (study / "report.html").as_uri()
    dom = subprocess.run(flags + ["--dump-dom", url], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert dom.count("<table") >= 3
    assert dom.count("<rect") >= 9  # the study-flow chart drew its bars
    assert "Conversion rates (primary estimate)" in dom
    shot = tmp_path / "report.png"
    subprocess.run(flags + [f"--screenshot={shot}", "--window-size=1200,2400", url],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 20_000
