"""Unit and spec tests of rates: the Rate object, censoring, aggregation, funnel, truth."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_estimate import END, make_study

from linkage.db import connect
from linkage.estimation import estimate
from linkage.estimation import rates as rt
from linkage.estimation.truth import truth_comparison
from linkage.simulate import override_scenario, summarise


def test_rate_estimate_and_zero_denominator():
    assert rt.Rate("offense_type", "ALL", "arrest", "cumulative", 3.0, 12.0).estimate == 0.25
    assert rt.Rate("offense_type", "x", "arrest", "conditional", 0.0, 0.0).estimate is None


def test_censoring_rule_in_words_and_params():
    c = rt.Censoring(dt.date(2025, 12, 31), 365)
    assert c.last_referral_date == dt.date(2024, 12, 31)
    assert "within 365 days" in c.describe()
    assert c.params()["follow_up_days"] == 365


def test_aggregate_adds_all_row():
    values = np.array([[1.0, 0.5], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    out = rt.aggregate(values, np.array([0, 1, 1, 0]), 2, np.array([True, True, True, False]))
    assert out.tolist() == [[1.0, 0.5], [1.0, 1.0], [2.0, 1.5]]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1),
                          st.integers(0, 2)), min_size=1, max_size=40))
def test_rates_are_fractions_and_the_funnel_is_monotone(rows):
    arr = np.array(rows)
    # per-referral stage probabilities are non-increasing over stages, like every estimator's
    pi = np.minimum.accumulate(arr[:, :4], axis=1)
    codes = arr[:, 4].astype(np.int64)
    mask = np.ones(len(codes), dtype=bool)
    counts = rt.aggregate(pi, codes, 3, mask)
    den = rt.aggregate(np.ones(len(codes)), codes, 3, mask)[:, 0]
    for rate in rt.rate_rows(counts, den, "d", ["0", "1", "2"]):
        if rate.estimate is not None:
            assert -1e-12 <= rate.estimate <= 1 + 1e-12
    assert np.all(np.diff(counts, axis=1) <= 1e-12)


def test_strata_codes_are_sorted_labels():
    codes, labels = rt.strata_codes(pd.DataFrame({"urgency": ["urgent", "not urgent"]}),
                                    "urgency")
    assert labels == ["not urgent", "urgent"] and codes.tolist() == [1, 0]


def test_strata_table_has_every_dimension():
    con = make_study(connect())
    estimate(con, seed=1, n_boot=5, end_date=END, suppress_below=0, min_denominator=0)
    dims = {d for (d,) in con.sql("select distinct dimension from conversion_rates_strata"
                                  ).fetchall()}
    assert dims == set(rt.STRATA) - {"offense_type"}
    completeness = con.sql(
        "select stratum, n_referrals from conversion_rates_strata where dimension ="
        " 'completeness' and method = 'threshold' and stage = 'arrest'"
        " and rate_kind = 'cumulative' order by stratum").fetchall()
    total = dict(completeness).pop("ALL")
    assert total == 4 and sum(n for s, n in completeness if s != "ALL") == 4


def test_tip_funnel_counts():
    con = make_study(connect())
    estimate(con, seed=1, n_boot=5, end_date=END)
    rows = con.sql("select step, n, share_of_tips from rates_tip_funnel where stratum = 'ALL'"
                   " order by step_order").fetchall()
    assert rows == [("tips", 5, 1.0), ("us_located", 4, 0.8), ("referred", 4, 0.8)]


def test_truth_applies_the_same_censoring_rule():
    con = make_study(connect())
    con.execute("""
        create table truth_referrals as select * from (values
            ('R1', true, date '2024-02-01', date '2024-03-01', null::date, null::date),
            ('R2', true, date '2024-02-15', date '2025-06-01', null, null),
            ('R3', false, null, null, null, null),
            ('R4', false, null, null, null, null)
        ) t(referral_id, investigated, opened_at, arrested_at, charged_at, convicted_at)
    """)
    rt.load_inputs(con, rt.Censoring(END))
    assert truth_comparison(con, 365, publish=False) == ("rates_truth", "truth_cells")
    truth = con.table("truth_cells").df().set_index(
        ["offense_type", "stage", "rate_kind"])["truth"]
    assert truth[("a", "investigation", "cumulative")] == 1.0
    assert truth[("a", "arrest", "cumulative")] == 0.5  # R2's arrest is after 365 days
    assert truth[("ALL", "arrest", "conditional")] == 0.5


def test_summarise_bias_rmse_coverage():
    rows = pd.DataFrame({
        "method": "m", "offense_type": "ALL", "stage": "arrest", "rate_kind": "cumulative",
        "n_referrals": 100, "estimate": [0.1, 0.3], "ci_low": [0.0, 0.25],
        "ci_high": [0.2, 0.35], "truth": [0.1, 0.1],
    })
    out = summarise(rows).iloc[0]
    assert out["bias"] == pytest.approx(0.1)
    assert out["rmse"] == pytest.approx(np.sqrt(0.02))
    assert out["coverage"] == pytest.approx(0.5)
    # errors 0 and 0.2: sd 0.1414; widths 0.2 and 0.1 imply a mean se of 0.15 / 3.92
    assert out["sd"] == pytest.approx(np.sqrt(0.02))
    assert out["mean_se"] == pytest.approx(0.15 / (2 * 1.959964))
    assert out["sd_over_se"] == pytest.approx(np.sqrt(0.02) / (0.15 / (2 * 1.959964)))
    assert (out["miss_low"], out["miss_high"]) == (0.0, 0.5)  # the second CI lies above


def test_override_scenario_changes_one_knob(tmp_path):
    from linkage.generation.scenario import load_scenario

    path = override_scenario("completeness.small.email", 0.2, tmp_path)
    assert load_scenario(path).completeness.small.email == 0.2


def test_percentile_intervals_match_nanquantile_cell_by_cell() -> None:
    from linkage.estimation.intervals import CI_LEVEL, _percentile

    rng = np.random.default_rng(3)
    sims = rng.random((200, 5, 7))
    sims[rng.random(sims.shape) < 0.1] = np.nan  # some draws of a cell are 0 / 0
    sims[:, 2, 4] = np.nan  # a cell with no draws at all
    sims[:, 0, :] = rng.random((200, 7))  # a stratum without NaN
    lo, hi = _percentile(sims)
    alpha = (1 - CI_LEVEL) / 2
    flat = sims.reshape(200, -1)
    for j in range(flat.shape[1]):
        col = flat[:, j]
        if np.isnan(col).all():
            assert np.isnan(lo[j]) and np.isnan(hi[j])
        else:
            assert lo[j] == np.quantile(col[~np.isnan(col)], alpha)
            assert hi[j] == np.quantile(col[~np.isnan(col)], 1 - alpha)


def test_rate_frame_rows_are_rate_rows() -> None:
    from linkage.estimation.intervals import rate_frame

    counts = np.array([[10.0, 5.0, 4.0, 2.0], [0.0, 0.0, 0.0, 0.0], [10.0, 5.0, 4.0, 2.0]])
    den = np.array([100.0, 0.0, 100.0])
    df = rate_frame(counts, den, "urgency", ["urgent", "not urgent"])
    rows = rt.rate_rows(counts, den, "urgency", ["urgent", "not urgent"])
    assert list(df.columns[:6]) == ["dimension", "stratum", "stage", "rate_kind",
                                    "numerator", "denominator"]
    assert [(r.stratum, r.stage, r.kind, r.numerator, r.denominator) for r in rows] == list(
        df[["stratum", "stage", "rate_kind", "numerator", "denominator"]].itertuples(
            index=False, name=None))
    assert df.estimate.iloc[:7].round(2).tolist() == [0.1, 0.05, 0.04, 0.02, 0.5, 0.8, 0.5]
    assert df.estimate.iloc[7:14].isna().all()
