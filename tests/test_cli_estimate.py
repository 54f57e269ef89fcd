"""`linkage estimate` and `linkage simulate` through the CLI."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner
from test_estimate import make_study

from linkage.cli import main


def test_estimate_writes_the_tables_and_prints_the_headline(tmp_path: Path) -> None:
    db = tmp_path / "study.duckdb"
    with duckdb.connect(str(db)) as con:
        make_study(con)
    result = CliRunner().invoke(main, ["estimate", "--db", str(db), "--n-boot", "10",
                                       "--end-date", "2025-12-31", "--min-count", "0"])
    assert result.exit_code == 0, result.output
    assert "4 of 4 referrals with full follow-up" in result.output
    assert "share of referrals reaching each stage (calibrated" in result.output
    with duckdb.connect(str(db), read_only=True) as con:
        methods = {r[0] for r in con.sql("select distinct method from conversion_rates"
                                          ).fetchall()}
    assert methods == {"deterministic", "threshold", "weighted", "calibrated", "imputed"}


def test_primary_is_chosen_and_reviewed_needs_labels(tmp_path: Path) -> None:
    db = tmp_path / "study.duckdb"
    with duckdb.connect(str(db)) as con:
        make_study(con)
    args = ["estimate", "--db", str(db), "--n-boot", "5", "--end-date", "2025-12-31",
            "--min-count", "0"]
    weighted = CliRunner().invoke(main, [*args, "--primary", "weighted"])
    assert weighted.exit_code == 0 and "(weighted" in weighted.output
    bad = CliRunner().invoke(main, [*args, "--primary", "reviewed"])
    assert bad.exit_code == 3
    assert bad.output.strip().splitlines() == [
        "error: primary reviewed needs review labels: run `linkage review import` first"]


def test_estimate_before_linkage_is_a_one_line_error(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    result = CliRunner().invoke(main, ["estimate", "--db", str(db)])
    assert result.exit_code == 3
    assert result.output.strip().splitlines() == [
        f"error: {db} has no raw_referrals, scored_pairs, links: run `linkage load` and "
        f"`linkage link --db {db}` first"]


@pytest.mark.slow
def test_simulate_scores_every_method_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    args = ["--quiet", "simulate", "--scale", "0.001", "--seed", "7", "--n-boot", "5",
            "--out", str(out)]
    first = CliRunner().invoke(main, [*args, "--replicates", "1"])
    assert first.exit_code == 0, first.output
    reps = pd.read_csv(out / "replicates" / "default" / "00000.csv")
    assert set(reps.method) == {"deterministic", "threshold", "weighted", "calibrated",
                               "imputed"}
    assert reps.replicate.unique().tolist() == [0] and reps.truth.notna().any()
    again = CliRunner().invoke(main, [*args, "--replicates", "2"])  # runs replicate 1 only
    assert again.exit_code == 0, again.output
    assert len(pd.read_csv(out / "timings.csv")) == 2
    matrix = pd.read_csv(out / "matrix.csv")
    assert matrix.n_replicates.max() == 2 and set(matrix.world) == {"default"}
    assert {"bias", "rmse", "coverage", "sd_over_se"} <= set(matrix.columns)


def test_run_censors_at_the_scenario_extract_date_or_the_given_one(tmp_path: Path) -> None:
    """`linkage run` passes the scenario's end date down (the default world's extract is
    2025-12-31) and takes --end-date and --horizons over it."""
    import json

    def censoring(out: Path, *extra: str) -> tuple[str, list[int]]:
        args = ["-q", "run", "--scale", "0.002", "--seed", "5", "--out", str(out), *extra]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        manifest = json.loads((out / "manifest.json").read_text())
        with duckdb.connect(str(out / "study.duckdb"), read_only=True) as con:
            days = [r[0] for r in con.sql("select distinct horizon_days from "
                                          "conversion_rates_horizons order by 1").fetchall()]
        return manifest["estimation"]["censoring"], days

    text, days = censoring(tmp_path / "a")
    assert text.endswith("(full follow-up to 2025-12-31)")
    assert days[:2] == [180, 365]  # 730 only where the follow-up supports it
    text, days = censoring(tmp_path / "b", "--end-date", "2025-06-30", "--horizons", "90,200")
    assert "on or before 2024-06-30 (full follow-up to 2025-06-30)" in text
    assert days[:2] == [90, 200] and 180 not in days
