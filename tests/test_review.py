"""The review sample's design and the estimates from its labels, on a small world in SQL."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import numpy as np
import pytest
from click.testing import CliRunner
from review_world import N_REFERRALS, make_world

from linkage.cli import main
from linkage.db import connect
from linkage.review import (
    draw_sample,
    import_labels,
    review_conversion_rates,
    review_error_rates,
    review_weights,
    simulate_review,
)
from linkage.review.columns import CLEAR_FORM, PSEUDO_FORM, sheet_columns
from linkage.review.design import allocate
from linkage.review.estimates import STAGES, ReviewDesign, stage_error_scale


@pytest.fixture()
def world() -> duckdb.DuckDBPyConnection:
    return make_world(connect())


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_inclusion_probabilities_sum_to_the_population_they_represent(world, tmp_path):
    draw_sample(world, 150, tmp_path / "r.csv", seed=3)
    # every referral is in exactly one stratum; the weights 1/pi of each stratum's sampled
    # referrals add up to its size, and over all strata to the number of referrals
    per_stratum = world.sql("""
        select s.n_population, sum(1 / p.inclusion_probability), count(*), s.n_sample
        from review_sample as p
        join review_strata as s using (offense_type, band)
        group by all
    """).fetchall()
    for n_pop, weights, n_drawn, n_sample in per_stratum:
        assert weights == pytest.approx(n_pop, rel=1e-12)
        assert n_drawn == n_sample
    total = world.sql("select sum(1 / inclusion_probability) from review_sample").fetchall()
    assert total[0][0] == pytest.approx(N_REFERRALS, rel=1e-12)
    by_offense = dict(world.sql("select offense_type, sum(1 / inclusion_probability)"
                                " from review_sample group by all").fetchall())
    assert by_offense == pytest.approx({"a": 400, "b": 150, "c": 50}, rel=1e-12)
    # and the inclusion probabilities over the whole frame add up to the sample size
    expected_n = world.sql("select sum(s.inclusion_probability) from review_frame"
                           " join review_strata as s using (offense_type, band)").fetchall()
    assert expected_n[0][0] == pytest.approx(150)
    assert world.sql("select count(*) from review_frame").fetchall()[0][0] == N_REFERRALS


def test_allocation_favours_uncertain_bands_and_rare_offenses(world, tmp_path):
    draw_sample(world, 150, tmp_path / "r.csv", seed=3)
    pi = dict(((o, b), p) for o, b, p in world.sql(
        "select offense_type, band, inclusion_probability from review_strata").fetchall())
    assert pi[("a", "0.1-0.5")] > pi[("a", "none")]  # near the threshold over no candidate
    per_offense = dict(world.sql("select offense_type, sum(n_sample) / sum(n_population)"
                                 " from review_strata group by all").fetchall())
    assert per_offense["c"] > per_offense["b"] > per_offense["a"]  # sqrt allocation
    assert world.sql("select min(n_sample) from review_strata").fetchall()[0][0] >= 2


def test_allocation_is_exact_and_capped() -> None:
    assert sum(allocate([10, 20, 30], [1.0, 5.0, 2.0], 25)) == 25
    assert allocate([1, 2], [9.0, 9.0], 50) == [1, 2]
    assert allocate([40, 40], [0.0, 0.0], 10, minimum=0) == [5, 5]


def test_the_sheet_has_every_candidate_a_blank_row_and_no_scores(world, tmp_path):
    summary = draw_sample(world, 100, tmp_path / "r.csv", seed=5, max_candidates=1)
    rows = _rows(tmp_path / "r.csv")
    assert list(rows[0]) == sheet_columns()
    assert {r["decision"] for r in rows} == {""}
    assert {r["identifier_form"] for r in rows} == {CLEAR_FORM}
    assert len({r["review_id"] for r in rows}) == summary.n_sampled == 100
    per_review = {}
    for r in rows:
        per_review.setdefault(r["review_id"], []).append(r["case_id"])
    assert all(len(cases) == 1 for cases in per_review.values())  # max_candidates=1
    blanks = world.sql("select count(*) from review_sample where n_candidates = 0"
                       ).fetchall()[0][0]
    assert sum(1 for r in rows if r["case_id"] == "") == blanks > 0
    assert "match_probability" not in rows[0]  # the reviewer is blind to the model


def test_the_same_seed_draws_the_same_file(world, tmp_path):
    draw_sample(world, 80, tmp_path / "a.csv", seed=9)
    draw_sample(world, 80, tmp_path / "b.csv", seed=9)
    draw_sample(world, 80, tmp_path / "c.csv", seed=10)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "c.csv").read_bytes()


def test_pseudonymised_input_gives_tokens_and_says_so(tmp_path):
    con = make_world(connect(), pseudonymised=True)
    draw_sample(con, 50, tmp_path / "r.csv", seed=1)
    rows = _rows(tmp_path / "r.csv")
    assert {r["identifier_form"] for r in rows} == {PSEUDO_FORM}
    names = {r["referral_last_name"] for r in rows}
    assert not any(n.startswith("family") for n in names)
    assert all(len(n) == 32 for n in names)  # the tokens, not the names
    assert all(len(r["referral_dob"]) == 32 for r in rows)  # the dob token


def _truth_error_rates(con: duckdb.DuckDBPyConnection) -> tuple[float, float]:
    flr = con.sql("select avg((t.case_id is distinct from l.case_id)::int) from links as l"
                  " left join truth_links as t using (referral_id)").fetchall()[0][0]
    mlr = con.sql("select avg((t.case_id is distinct from l.case_id)::int) from truth_links"
                  " as t left join links as l using (referral_id)").fetchall()[0][0]
    return flr, mlr


def _truth_rates(con: duckdb.DuckDBPyConnection, follow_up: int) -> dict[str, float]:
    end = con.sql("select greatest(max(opened_at), max(arrested_at), max(charged_at),"
                  " max(convicted_at)) from raw_case_outcomes").fetchall()[0][0]
    cols = {"investigation": "opened_at", "arrest": "arrested_at", "charge": "charged_at",
            "conviction": "convicted_at"}
    out = {}
    for stage, col in cols.items():
        out[stage] = con.sql(f"""
            select avg(coalesce(c.investigated and c.{col}
                                <= cast(r.referred_at as date) + {follow_up}, false)::int)
            from raw_referrals as r
            left join truth_links as t using (referral_id)
            left join raw_case_outcomes as c on c.case_id = t.case_id
            where cast(r.referred_at as date) + {follow_up} <= $end
        """, params={"end": end}).fetchall()[0][0]
    return out


def test_a_census_review_reproduces_the_truth_exactly(world, tmp_path):
    draw_sample(world, 10_000, tmp_path / "r.csv", seed=1)
    assert world.sql("select min(inclusion_probability) from review_strata").fetchall() == [(1,)]
    simulate_review(world, tmp_path / "r.csv", tmp_path / "l.csv", seed=1)
    import_labels(world, tmp_path / "l.csv")
    errors = review_error_rates(world).set_index(["offense_type", "rate"])
    flr, mlr = _truth_error_rates(world)
    assert 0 < flr < 1 and 0 < mlr < 1  # the world has both kinds of error
    assert errors.loc[("ALL", "false_link"), "estimate"] == pytest.approx(flr, abs=1e-12)
    assert errors.loc[("ALL", "missed_link"), "estimate"] == pytest.approx(mlr, abs=1e-12)
    assert (errors["ci_low"] == errors["estimate"]).all()  # no sampling error in a census
    rates = review_conversion_rates(world, follow_up_days=120).set_index(
        ["offense_type", "stage"])
    truth = _truth_rates(world, 120)
    for stage in STAGES:
        row = rates.loc[("ALL", stage)]
        assert row["estimate"] == pytest.approx(truth[stage], abs=1e-12)
        assert row["ci_low"] == row["ci_high"] == row["estimate"]
    assert any(rates.loc[("ALL", s), "linked_estimate"] != truth[s] for s in STAGES)


def test_a_sample_review_brackets_the_truth(world, tmp_path):
    draw_sample(world, 200, tmp_path / "r.csv", seed=4)
    simulate_review(world, tmp_path / "r.csv", tmp_path / "l.csv", seed=4)
    import_labels(world, tmp_path / "l.csv")
    errors = review_error_rates(world, publish=True).set_index(["offense_type", "rate"])
    flr, mlr = _truth_error_rates(world)
    for rate, truth in (("false_link", flr), ("missed_link", mlr)):
        row = errors.loc[("ALL", rate)]
        assert row["ci_low"] < row["ci_high"]
        assert row["ci_low"] - 0.05 <= truth <= row["ci_high"] + 0.05  # loose: one draw
    assert world.sql("select count(*) from review_error_rates").fetchall()[0][0] == len(errors)


def test_review_weights_add_up_to_each_stratum(world, tmp_path):
    draw_sample(world, 90, tmp_path / "r.csv", seed=8)
    simulate_review(world, tmp_path / "r.csv", tmp_path / "l.csv", seed=8)
    rows = list(csv.DictReader((tmp_path / "l.csv").open(encoding="utf-8")))
    matched = {r["review_id"] for r in rows if r["decision"] == "match"}
    picked = sorted({r["review_id"] for r in rows} - matched)[:5]  # five left unsure
    for r in rows:
        if r["review_id"] in picked:
            r["decision"] = "unsure"
    with (tmp_path / "u.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    import_labels(world, tmp_path / "u.csv")
    weights = review_weights(world)
    assert (weights.loc[weights["review_id"].isin(picked), "weight"] == 0).all()
    strata = world.sql("select offense_type, band, n_population from review_strata").df()
    got = weights.groupby(["offense_type", "band"])["weight"].sum()
    for row in strata.itertuples():
        if (row.offense_type, row.band) in got.index:
            assert got[(row.offense_type, row.band)] == pytest.approx(row.n_population)
    errors = review_error_rates(world).set_index(["offense_type", "rate"])
    assert errors.loc[("ALL", "false_link"), "n_unsure"] == 5


def test_an_unsure_referral_passes_its_weight_to_its_stratum() -> None:
    # two strata of 4 and 2 referrals, all sampled; one unsure referral in the first
    d = ReviewDesign(stratum=np.array([0, 0, 0, 0, 1, 1]), n_pop=np.array([4.0, 2.0]),
                resolved=np.array([True, True, True, False, True, True]),
                r_h=np.array([3.0, 2.0]))
    z = np.array([1.0, 0.0, 1.0, 1.0, 1.0, 0.0])
    total, var, census = d.total(z, np.ones(6, dtype=bool))
    assert total == pytest.approx(4 / 3 * 2 + 1)
    # stratum 0: s^2 = 1/3, N^2 (1 - r/N) s^2 / r = 16 * 0.25 / 3 / 3; stratum 1 is a census
    assert var == pytest.approx(16 * 0.25 * (1 / 3) / 3)
    assert not census


def _two_offense_band() -> ReviewDesign:
    # one band, two offense types' strata of 10 referrals, 4 reviewed in each
    return ReviewDesign(stratum=np.repeat([0, 1], 10), n_pop=np.array([10.0, 10.0]),
                        resolved=np.tile([True] * 4 + [False] * 6, 2),
                        r_h=np.array([4.0, 4.0]), band=np.array([0, 0]))


def test_an_error_seen_in_one_offense_type_stands_for_its_band_in_another() -> None:
    d = _two_offense_band()
    z = np.zeros(20)
    z[0] = 1.0  # one error among offense A's reviews, none among offense B's
    offense_b = np.arange(20) >= 10
    _, alone, _ = d.total(z, offense_b)
    _, pooled, _ = d.total(z, offense_b, pool=np.ones(20, dtype=bool))
    # alone: B's 4 reviews are its band: Jeffreys p0 = 0.5 / 5
    p0 = 0.1
    assert alone == pytest.approx(100 * (1 - 0.4) * p0 * (1 - p0) / 4)
    # pooled over both offense types: within-stratum ss 0.75 on 6 df, p0 = 0.5 / 9
    p0 = 0.5 / 9
    assert pooled == pytest.approx(100 * (1 - 0.4) * max(0.75 / 6, p0 * (1 - p0)) / 4)
    assert pooled > alone


def test_the_floor_scales_with_the_chance_an_error_moves_the_stage() -> None:
    d = _two_offense_band()
    everyone = np.ones(20, dtype=bool)
    _, full, _ = d.total(np.zeros(20), everyone)
    _, scaled, _ = d.total(np.zeros(20), everyone, scale=stage_error_scale(0.25))
    assert full > 0
    assert scaled == pytest.approx(full * 0.375)  # max(0.25, 2 x 0.25 x 0.75)


def test_the_review_commands_end_to_end(tmp_path):
    db = tmp_path / "study.duckdb"
    make_world(connect(db)).close()
    runner = CliRunner()
    sample = runner.invoke(main, ["review", "sample", "--db", str(db), "--size", "60",
                                  "--out", str(tmp_path / "r.csv"), "--seed", "2",
                                  "--html", str(tmp_path / "r.html")])
    assert sample.exit_code == 0, sample.output
    assert "sampled 60 of 600 referrals" in sample.output
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "RV000001" in page and "record-level identifiers" in page
    assert "<script" not in page and "http" not in page  # offline
    answered = runner.invoke(main, ["review", "simulate", "--db", str(db), "--sheet",
                                    str(tmp_path / "r.csv"), "--out", str(tmp_path / "l.csv"),
                                    "--error-rate", "0.1"])
    assert answered.exit_code == 0, answered.output
    imported = runner.invoke(main, ["review", "import", "--db", str(db), "--labels",
                                    str(tmp_path / "l.csv")])
    assert imported.exit_code == 0, imported.output
    assert "for 60 sampled referrals" in imported.output
    rates = runner.invoke(main, ["review", "rates", "--db", str(db)])
    assert rates.exit_code == 0, rates.output
    assert "false-link rate" in rates.output and "corrected" in rates.output
    planned = runner.invoke(main, ["review", "plan", "--db", str(db), "--sizes", "100,600"])
    assert planned.exit_code == 0, planned.output
    assert "arrest (+/- pp)" in planned.output and "600" in planned.output
    with connect(db, read_only=True) as con:
        assert con.sql("select count(*) from review_conversion_rates").fetchall()[0][0] == 16


def test_the_plan_narrows_with_the_review_size_and_a_census_is_exact(world, tmp_path):
    from linkage.review import plan_review

    draw_sample(world, 150, tmp_path / "r.csv", seed=6)
    simulate_review(world, tmp_path / "r.csv", tmp_path / "l.csv", seed=6)
    import_labels(world, tmp_path / "l.csv")
    plan = plan_review(world, sizes=(100, 300, N_REFERRALS)).set_index(
        ["offense_type", "stage", "n_review"])["half_width"]
    inv = [plan[("ALL", "investigation", n)] for n in (100, 300, N_REFERRALS)]
    assert inv[0] > inv[1] > inv[2] == 0
    # at the pilot's own size the projection is the pilot's own interval, near enough
    rates = review_conversion_rates(world).set_index(["offense_type", "stage"])
    own = plan_review(world, sizes=(150,)).set_index(["offense_type", "stage"])
    got = own.loc[("ALL", "investigation"), "half_width"]
    half = (rates.loc[("ALL", "investigation"), "ci_high"]
            - rates.loc[("ALL", "investigation"), "ci_low"]) / 2
    assert got == pytest.approx(half, rel=0.05)


def test_the_simulated_reviewer_errs_at_its_rate(world, tmp_path):
    draw_sample(world, 200, tmp_path / "r.csv", seed=2)
    truth = dict(world.sql("select referral_id, case_id from truth_links").fetchall())

    def wrong_share(error_rate: float) -> float:
        simulate_review(world, tmp_path / "r.csv", tmp_path / "l.csv",
                        error_rate=error_rate, seed=2)
        verdict: dict[str, str] = {}
        for r in _rows(tmp_path / "l.csv"):
            verdict.setdefault(r["referral_id"], "")
            if r["decision"] == "match":
                verdict[r["referral_id"]] = r["case_id"]
        return np.mean([verdict[ref] != truth.get(ref, "") for ref in verdict])

    assert wrong_share(0.0) == 0
    assert wrong_share(1.0) > 0.9  # only a referral with neither case nor candidate is safe
    assert 0.1 < wrong_share(0.2) < 0.3


def _estimate(con, **kw):
    from linkage.estimation import estimate

    return estimate(con, seed=1, n_boot=3, follow_up_days=120, suppress_below=0,
                    min_denominator=0, companions=False, comparisons=False, **kw)


def _reviewed(con, method="reviewed"):
    rows = con.sql("select stage, estimate, ci_low, ci_high, is_primary, assumption from "
                   "conversion_rates where method = $m and offense_type = 'ALL' and "
                   "rate_kind = 'cumulative'", params={"m": method}).df()
    return rows.set_index("stage")


def test_with_a_census_review_the_primary_is_the_truth(world, tmp_path):
    """The reviewed estimator corrects the audit-calibrated prediction by the review's
    design; reviewing every referral leaves no error and no interval."""
    draw_sample(world, 10_000, tmp_path / "r.csv", seed=1)
    simulate_review(world, tmp_path / "r.csv", tmp_path / "l.csv", seed=1)
    import_labels(world, tmp_path / "l.csv")
    summary = _estimate(world)
    assert summary.primary == "reviewed" and "reviewed" in summary.methods
    rows, truth = _reviewed(world), _truth_rates(world, 120)
    for stage in STAGES:
        assert rows.loc[stage, "estimate"] == pytest.approx(truth[stage], abs=1e-12)
        assert rows.loc[stage, "ci_low"] == pytest.approx(rows.loc[stage, "ci_high"])
    assert rows["is_primary"].all() and rows["assumption"].str.contains("verdicts").all()
    calibrated = _reviewed(world, "calibrated")
    assert not calibrated["is_primary"].any()
    assert any(abs(calibrated.loc[s, "estimate"] - truth[s]) > 0.01 for s in STAGES)


def test_a_sample_review_gives_an_interval_and_calibrated_stays_on_request(world, tmp_path):
    draw_sample(world, 200, tmp_path / "r.csv", seed=3)
    simulate_review(world, tmp_path / "r.csv", tmp_path / "l.csv", seed=3)
    import_labels(world, tmp_path / "l.csv")
    _estimate(world, primary="calibrated")
    rows, truth = _reviewed(world), _truth_rates(world, 120)
    assert not rows["is_primary"].any() and _reviewed(world, "calibrated")["is_primary"].all()
    assert (rows["ci_high"] > rows["ci_low"]).all()
    for stage in STAGES:  # one draw: loose
        assert rows.loc[stage, "ci_low"] - 0.05 <= truth[stage] <= rows.loc[stage, "ci_high"] + 0.05


def test_reviewed_needs_labels_from_these_referrals(world, tmp_path):
    from linkage.errors import ConfigError

    with pytest.raises(ConfigError, match="needs review labels"):
        _estimate(world, primary="reviewed")
    assert world.sql("select count(*) from duckdb_tables() where table_name = "
                     "'conversion_rates'").fetchall() == [(0,)]
    draw_sample(world, 100, tmp_path / "r.csv", seed=2)
    simulate_review(world, tmp_path / "r.csv", tmp_path / "l.csv", seed=2)
    import_labels(world, tmp_path / "l.csv")
    world.execute("insert into raw_referrals select * replace ('R9999' as referral_id) "
                  "from raw_referrals limit 1")
    with pytest.raises(ConfigError, match="1 of this study's referrals are not in its frame"):
        _estimate(world)
