"""Time to event: weighted Kaplan-Meier rates at horizons, on hand-made data with exactly
known answers, censored referrals included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_estimate import _run, make_study

from linkage.db import connect
from linkage.estimation.rates import RateInputs
from linkage.estimation.survival import horizon_rates, horizons_supported


def _inputs(follow, days, pair_ref, offense=None):
    n, m = len(follow), len(pair_ref)
    refs = pd.DataFrame({"eligible": True, "follow_up_available": follow,
                         "offense_type": offense or ["a"] * n})
    d = np.full((m, 4), np.nan)
    d[:, 0] = days
    return RateInputs(
        referrals=refs, pair_ref=np.asarray(pair_ref), pair_case=np.arange(m),
        prob=np.ones(m), weight=np.zeros(m), identity=np.ones(m), scored=np.ones(m, bool),
        link=np.ones(m, bool), audit_pair=np.zeros(m, bool), audit_case=np.zeros(m, bool),
        audit_sibling=np.zeros(m, bool), sibling=np.zeros(m, bool),
        stages=np.zeros((m, 4), bool), days=d)


def _inv(df, offense="ALL"):
    sel = df[(df.offense_type == offense) & (df.stage == "investigation")]
    return dict(zip(sel.horizon_days, sel.estimate, strict=True))


def test_km_with_censoring_by_hand():
    """R0 investigated on day 50; R1 followed 400 days, nothing; R2 followed only 100 days
    (censored before its case's day 150); R3 investigated on day 500. At 50: 1 of 4 at risk
    -> 1/4; R2 and R1 leave censored; at 500 R3 is the only one at risk -> 1."""
    inputs = _inputs([400.0, 400.0, 100.0, 800.0], [50.0, 150.0, 500.0], [0, 2, 3])
    out = _inv(horizon_rates(inputs, np.ones(3), [180, 365, 500]))
    assert out == pytest.approx({180: 0.25, 365: 0.25, 500: 1.0})
    # a naive share of all referrals would say 1/4 at 500 days (2 of 4 ignoring censoring)


def test_full_follow_up_is_the_weighted_share():
    """Everyone followed 1000 days; R0's two candidates (weights 0.5 each) convert on days
    100 and 300, R1's single candidate (weight 0.8) on day 200: at 150 days 0.5 / 2, at 250
    (0.5 + 0.8) / 2, at 365 (1 + 0.8) / 2."""
    inputs = _inputs([1000.0, 1000.0], [100.0, 300.0, 200.0], [0, 0, 1])
    out = _inv(horizon_rates(inputs, np.array([0.5, 0.5, 0.8]), [150, 250, 365]))
    assert out == pytest.approx({150: 0.25, 250: 0.65, 365: 0.9})


def test_window_ratio_scales_and_funnel_stays_monotone():
    inputs = _inputs([1000.0], [100.0], [0])
    ratio = np.array([[1.0, 2.0, 2.0, 2.0], [0.5, 1.0, 1.0, 1.0]])
    out = horizon_rates(inputs, np.ones(1), [365], window=ratio)
    assert _inv(out) == pytest.approx({365: 0.5})
    assert (out.estimate.between(0, 1)).all()


def test_longest_supported_horizon_is_added():
    follow = np.array([100.0, 400.0, 800.0, 900.0])
    assert horizons_supported(follow, [180, 365, 730, 2000]) == [180, 365, 730, 825]


def test_estimate_writes_horizons_with_the_window_rate_at_full_follow_up():
    """Every referral of the hand-made study has about 720 days of follow-up and every stage
    falls within 365 days: at 365 days the KM rate is the windowed primary estimate."""
    con = make_study(connect())
    _run(con)
    h = con.sql("select * from conversion_rates_horizons").df()
    assert {180, 365}.issubset(set(h.horizon_days)) and h.is_longest.any()
    assert h.estimate.between(0, 1).all()
    for (_, _), g in h.groupby(["offense_type", "horizon_days"]):
        est = g.set_index("stage").estimate[["investigation", "arrest", "charge",
                                             "conviction"]].to_numpy()
        assert (np.diff(est) <= 1e-12).all()
    window = con.sql("select offense_type, stage, estimate from conversion_rates where "
                     "method = 'calibrated' and rate_kind = 'cumulative'").df()
    at = h[h.horizon_days == 365].merge(window, on=["offense_type", "stage"])
    np.testing.assert_allclose(at.estimate_x, at.estimate_y, atol=1e-9)
    cols = con.sql("select distinct horizon_days from conversion_rates").fetchall()
    assert cols == [(365,)]


def test_cli_horizons_are_written_and_bad_ones_are_a_one_line_error(tmp_path):
    import duckdb
    from click.testing import CliRunner

    from linkage.cli import main

    db = tmp_path / "study.duckdb"
    with duckdb.connect(str(db)) as con:
        make_study(con)
    args = ["estimate", "--db", str(db), "--n-boot", "5", "--end-date", "2025-12-31",
            "--min-count", "0"]
    ok = CliRunner().invoke(main, [*args, "--horizons", "90,365"])
    assert ok.exit_code == 0, ok.output
    with duckdb.connect(str(db), read_only=True) as con:
        days = {r[0] for r in con.sql("select distinct horizon_days from "
                                      "conversion_rates_horizons").fetchall()}
    assert {90, 365} <= days
    bad = CliRunner().invoke(main, [*args, "--horizons", "90,soon"])
    assert bad.exit_code == 3
    assert bad.output.strip().splitlines() == [
        "error: horizons must be positive whole days (e.g. 180,365), got '90,soon'"]


def _km_sorted(time, event, weight, horizons):
    """Reference weighted Kaplan-Meier by sorting records (events before censorings at a
    tie), to check the day-grid computation against."""
    order = np.lexsort((-event, time))
    t, e, w = time[order], event[order], weight[order]
    at_risk = np.cumsum(w[::-1])[::-1]
    uniq, first = np.unique(t, return_index=True)
    d, r = np.add.reduceat(w * e, first), at_risk[first]
    surv = np.cumprod(np.where(r > 0, 1.0 - d / np.where(r > 0, r, 1.0), 1.0))
    idx = np.searchsorted(uniq, horizons, side="right") - 1
    return np.where(idx >= 0, 1.0 - surv[np.maximum(idx, 0)], 0.0)


def test_day_grid_equals_a_sorted_kaplan_meier_on_random_censored_data():
    rng = np.random.default_rng(3)
    n, m = 300, 500
    follow = rng.integers(0, 900, n).astype(float)
    pair_ref = np.sort(rng.integers(0, n, m))
    days = np.where(rng.random(m) < 0.6, rng.integers(-20, 800, m), np.nan).astype(float)
    weights = np.clip(rng.random(m), 0, 1)
    weights /= np.maximum(np.bincount(pair_ref, weights, minlength=n), 1.0)[pair_ref]
    horizons = [90, 180, 365, 600]
    got = _inv(horizon_rates(_inputs(follow, days, pair_ref), weights, horizons))
    hit = ~np.isnan(days) & (days <= follow[pair_ref])
    rest = 1.0 - np.bincount(pair_ref[hit], weights[hit], minlength=n)
    ref = _km_sorted(np.r_[np.maximum(days[hit], 0), follow], np.r_[np.ones(hit.sum()),
                     np.zeros(n)], np.r_[weights[hit], np.clip(rest, 0, None)],
                     np.array(horizons, dtype=float))
    assert [got[h] for h in horizons] == pytest.approx(ref.tolist(), abs=1e-12)


def test_imputing_one_link_per_referral_follows_the_weights():
    """Referral 0 has pairs weighing 0.5 and 0.3 (0.2 no link); referral 1 one pair at 1."""
    from linkage.estimation.survival import HorizonGrid

    inputs = _inputs([400.0, 400.0], [10.0, 20.0, 30.0], [0, 0, 1])
    grid = HorizonGrid.of(inputs, [365])
    rng = np.random.default_rng(1)
    draws = np.stack([grid.impute(np.array([0.5, 0.3, 1.0]), rng) for _ in range(4000)])
    assert set(np.unique(draws)) <= {0.0, 1.0}
    assert (draws[:, :2].sum(axis=1) <= 1).all() and (draws[:, 2] == 1).all()
    assert draws[:, :2].mean(axis=0) == pytest.approx([0.5, 0.3], abs=0.03)


def test_horizon_intervals_hold_the_point_and_the_process_interval_holds_them():
    con = make_study(connect())
    _run(con)
    h = con.sql("select * from conversion_rates_horizons where estimate is not null").df()
    assert len(h) and ((h.ci_low <= h.estimate) & (h.estimate <= h.ci_high)).all()
    assert ((h.process_ci_low <= h.ci_low) & (h.ci_high <= h.process_ci_high)).all()
    assert (h.n_followed <= h.n_referrals).all()
    assert (h.interval == "for these referrals (linkage uncertainty only)").all()
