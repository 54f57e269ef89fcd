"""The stress matrix (``linkage simulate`` over several worlds) and the lean replicate."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner
from test_estimate import make_study

from linkage.cli import main
from linkage.errors import ConfigError
from linkage.estimation.run import estimate
from linkage.reporting.matrix_html import bias_colour, coverage_colour
from linkage.reporting.simulation import MATRIX_COLUMNS
from linkage.simulate import lean_u_max_pairs, run_matrix


def _rates(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.sql("select * from conversion_rates order by all").df()


def test_lean_estimate_gives_the_same_offense_type_rates() -> None:
    full, lean = duckdb.connect(), duckdb.connect()
    make_study(full)
    make_study(lean)
    kw = {"seed": 3, "n_boot": 30, "suppress_below": 0, "min_denominator": 0}
    assert len(estimate(full, **kw).tables) > 1
    summary = estimate(lean, dimensions=("offense_type",), companions=False,
                       comparisons=False, **kw)
    assert summary.tables == ("rate_cells", "conversion_rates", "conversion_rates_horizons")
    pd.testing.assert_frame_equal(_rates(full), _rates(lean))
    assert lean.sql("select count(*) from information_schema.tables "
                    "where table_name = 'conversion_rates_strata'").fetchall()[0][0] == 0
    with pytest.raises(ConfigError, match="must include offense_type"):
        estimate(lean, dimensions=("urgency",), **kw)


def test_u_sample_is_sized_to_the_data() -> None:
    assert lean_u_max_pairs(41_000, 12_000) == 410_000  # 5% scale
    assert lean_u_max_pairs(500, 200) == 100_000  # floor
    assert lean_u_max_pairs(800_000, 150_000) == 2_000_000  # link's default at full scale


def test_heatmap_colours() -> None:
    assert coverage_colour(0.95) != coverage_colour(0.5) != coverage_colour(0.99)
    assert bias_colour(0.0, 0.1) == "#ffffff"
    assert bias_colour(0.05, 0.1) != bias_colour(-0.05, 0.1)


def test_matrix_tiny_run_writes_the_matrix_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "m"
    args = ["--quiet", "simulate", "--scenario", "default,repeat_referrals", "--scale",
            "0.002", "--seed", "11", "--n-boot", "5", "--jobs", "1", "--out", str(out)]
    first = CliRunner().invoke(main, [*args, "--replicates", "1"])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(main, [*args, "--replicates", "2"])  # replicate 1 only
    assert again.exit_code == 0, again.output
    matrix = pd.read_csv(out / "matrix.csv")
    assert list(matrix.columns) == list(MATRIX_COLUMNS)
    assert set(matrix.world) == {"default", "repeat_referrals"}
    assert set(matrix.method) == {"deterministic", "threshold", "weighted", "calibrated",
                                  "imputed"}
    assert matrix.n_replicates.max() == 2
    assert not matrix.duplicated(["world", "method", "offense_type", "stage",
                                  "rate_kind"]).any()
    timings = pd.read_csv(out / "timings.csv")
    assert sorted(zip(timings.world, timings.replicate, strict=True)) == [
        ("default", 0), ("default", 1), ("repeat_referrals", 0), ("repeat_referrals", 1)]
    seeds = {f.name: pd.read_csv(f).seed.iloc[0] for f in (out / "replicates").rglob("*.csv")}
    assert sorted(set(seeds.values())) == [11, 12]  # seed + replicate, in every world
    html = (out / "matrix.html").read_text(encoding="utf-8")
    assert "repeat_referrals" in html and "coverage" in html
    assert not re.search(r"<script|<link|https?://|@import|url\(", html)
    with pytest.raises(ConfigError, match="other settings"):
        run_matrix(["default"], scale=0.002, replicates=2, seed=12, n_boot=5, out=out)


def test_scenarios_command_lists_names_and_descriptions() -> None:
    result = CliRunner().invoke(main, ["scenarios"])
    assert result.exit_code == 0
    lines = dict(line.split(None, 1) for line in result.output.splitlines())
    assert "uneven_audit" in lines and "arrest" in lines["uneven_audit"]


def test_the_review_sweep_scores_each_size_and_a_census_is_the_truth(tmp_path: Path) -> None:
    """``--review-size``: a simulated review per size in every replicate, scored as
    ``reviewed_<size>``; a review of every referral (the size is capped at the referrals)
    gives the true rates exactly, with no interval."""
    out = tmp_path / "m"
    result = CliRunner().invoke(main, [
        "--quiet", "simulate", "--scenario", "uneven_audit", "--scale", "0.002", "--seed",
        "5", "--n-boot", "5", "--replicates", "1", "--out", str(out),
        "--review-size", "0,40,1000000"])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(next((out / "replicates").glob("*/*.csv")))
    assert set(rows.review_size) == {0, 40, 1_000_000}
    assert {"calibrated", "reviewed_40", "reviewed_1000000"} <= set(rows.method)
    census = rows[(rows.method == "reviewed_1000000") & rows.truth.notna()]
    assert len(census) and (census.estimate - census.truth).abs().max() < 1e-12
    assert (census.ci_high - census.ci_low).abs().max() < 1e-12
    sample = rows[(rows.method == "reviewed_40") & (rows.offense_type == "ALL")
                  & (rows.rate_kind == "cumulative")]
    assert (sample.ci_high > sample.ci_low).all()
    matrix = pd.read_csv(out / "matrix.csv")
    assert {"reviewed_40", "reviewed_1000000"} <= set(matrix.method)
    bad = CliRunner().invoke(main, ["simulate", "--review-size", "0,-5", "--out",
                                    str(tmp_path / "x")])
    assert bad.exit_code == 2 and "whole numbers >= 0" in bad.output
