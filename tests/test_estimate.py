"""Spec tests of the estimators on tiny hand-made linked data with exactly known answers."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pytest

from linkage.db import connect
from linkage.errors import ConfigError
from linkage.estimation import METHODS, disclosure, estimate
from linkage.estimation.simple import normalise

END = dt.date(2025, 12, 31)


def make_study(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Four referrals (offense a: R1, R2; b: R3, R4), three cases, hand-scored pairs.

    C1 (audit: records tip T1): investigated, arrested, charged. C2: investigated only.
    C3: investigated, arrested, charged, convicted - all within 365 days of referral.
    """
    con.execute("""
        create table raw_tips as select * from (values
            ('T1', 'esp', 'big', 'x', false, 'US'),
            ('T2', 'esp', 'big', 'x', true, 'US'),
            ('T3', 'esp', 'small', 'y', false, 'US'),
            ('T4', 'public', null, 'y', false, 'US'),
            ('T5', 'esp', 'small', 'y', false, 'IN')
        ) t(tip_id, reporter_type, reporter_name, incident_type, is_urgent, country);
        create table raw_referrals as select
            referral_id, tip_id, timestamp '2024-01-10 10:00:00' as referred_at,
            'A1' as agency_id, offense_type, first_name, last_name,
            cast(null as date) as dob, email, null as phone, null as username, null as ip
        from (values
            ('R1', 'T1', 'a', 'ann', 'lee', 'a@x.org'),
            ('R2', 'T2', 'a', null, null, 'b@x.org'),
            ('R3', 'T3', 'b', 'cy', 'moe', null),
            ('R4', 'T4', 'b', null, null, null)
        ) t(referral_id, tip_id, offense_type, first_name, last_name, email);
        create table raw_case_outcomes as select
            case_id, 'A1' as agency_id, true as investigated,
            cast(opened_at as date) as opened_at, cast(arrested_at as date) as arrested_at,
            cast(charged_at as date) as charged_at, cast(convicted_at as date) as convicted_at,
            cybertip_ref
        from (values
            ('C1', '2024-02-01', '2024-03-01', '2024-03-10', null, 'T1'),
            ('C2', '2024-02-15', null, null, null, null),
            ('C3', '2024-03-01', '2024-04-01', '2024-04-05', '2024-09-01', null)
        ) t(case_id, opened_at, arrested_at, charged_at, convicted_at, cybertip_ref);
        create table scored_pairs as select
            referral_id, case_id, p as match_probability,
            log2(p / (1 - p)) as match_weight, 0.99 as identity_probability
        from (values
            ('R1', 'C1', 0.9), ('R2', 'C2', 0.6), ('R2', 'C3', 0.2),
            ('R3', 'C3', 0.4), ('R4', 'C3', 0.3)
        ) t(referral_id, case_id, p);
        create table links as
            select referral_id, case_id, match_probability, match_weight
            from scored_pairs where match_probability >= 0.5;
    """)
    return con


@pytest.fixture()
def study() -> duckdb.DuckDBPyConnection:
    return make_study(connect())


def _rates(con, method: str, offense: str = "ALL", kind: str = "cumulative") -> dict:
    rows = con.execute(
        "select stage, estimate from conversion_rates where method = $m and offense_type = $o"
        " and rate_kind = $k",
        {"m": method, "o": offense, "k": kind},
    ).fetchall()
    return {stage: value for stage, value in rows}


def _run(con, **kw):
    return estimate(con, seed=3, n_boot=20, end_date=END, suppress_below=0,
                    min_denominator=0, **kw)


def test_deterministic_uses_the_cybertip_ref_join_only(study):
    _run(study)
    assert _rates(study, "deterministic") == pytest.approx(
        {"investigation": 0.25, "arrest": 0.25, "charge": 0.25, "conviction": 0.0})
    assert _rates(study, "deterministic", "a")["investigation"] == pytest.approx(0.5)
    assert _rates(study, "deterministic", "b")["investigation"] == pytest.approx(0.0)


def test_threshold_uses_links(study):
    _run(study)
    assert _rates(study, "threshold") == pytest.approx(
        {"investigation": 0.5, "arrest": 0.25, "charge": 0.25, "conviction": 0.0})
    assert _rates(study, "threshold", kind="conditional") == pytest.approx(
        {"arrest": 0.5, "charge": 1.0, "conviction": 0.0})


def test_threshold_parameter_takes_best_scored_pair(study):
    _run(study, threshold=0.35)  # R3 -> C3 now linked (0.4), R4 (0.3) not
    assert _rates(study, "threshold") == pytest.approx(
        {"investigation": 0.75, "arrest": 0.5, "charge": 0.5, "conviction": 0.25})


def test_weighted_sums_probability_times_stage(study):
    _run(study)
    # inv: 0.9 + (0.6 + 0.2) + 0.4 + 0.3; arrest: 0.9 + 0.2 + 0.4 + 0.3; conv: 0.2+0.4+0.3
    assert _rates(study, "weighted") == pytest.approx(
        {"investigation": 0.6, "arrest": 0.45, "charge": 0.45, "conviction": 0.225})


def test_normalise_caps_each_referral_at_one():
    q = normalise(np.array([0.9, 0.9, 0.5]), np.array([0, 0, 1]), 2)
    assert q.tolist() == pytest.approx([0.5, 0.5, 0.5])


def test_calibrated_uses_known_audit_link_and_stays_in_range(study):
    summary = _run(study)
    assert summary.primary == "calibrated"
    rows = study.sql(
        "select method, estimate, ci_low, ci_high from conversion_rates"
        " where estimate is not null"
    ).fetchall()
    for _, est, lo, hi in rows:
        assert 0.0 <= lo <= est <= hi <= 1.0
    cal_a = _rates(study, "calibrated", "a")
    assert cal_a["arrest"] >= 0.5  # R1's audit link to C1 is known: at least 1 of 2


def test_funnel_is_monotone(study):
    _run(study)
    for method in METHODS:
        r = _rates(study, method)
        assert r["investigation"] >= r["arrest"] >= r["charge"] >= r["conviction"]


def test_exactly_one_primary_method(study):
    _run(study, primary="weighted")
    primaries = study.sql(
        "select distinct method from conversion_rates where is_primary").fetchall()
    assert primaries == [("weighted",)]
    assert study.sql("select count(*) from conversion_rates_methods where is_primary"
                     ).fetchall() == [(1,)]


def test_same_seed_same_estimates(study):
    _run(study)
    first = study.sql("select * from conversion_rates order by all").fetchall()
    _run(study)
    assert study.sql("select * from conversion_rates order by all").fetchall() == first


def test_censoring_window_and_eligibility():
    con = make_study(connect())
    con.execute("update raw_case_outcomes set convicted_at = date '2025-03-01' "
                "where case_id = 'C3'")
    con.execute("update raw_referrals set referred_at = timestamp '2025-06-01' "
                "where referral_id = 'R4'")
    _run(con)
    thr = _rates(con, "threshold", "b")
    assert thr == pytest.approx({"investigation": 0.0, "arrest": 0.0, "charge": 0.0,
                                 "conviction": 0.0})
    n = con.sql("select n_referrals from conversion_rates where offense_type = 'b' limit 1")
    assert n.fetchall() == [(1,)]  # R4 lacks a full year of follow-up
    w = _rates(con, "weighted", "b")
    assert w["conviction"] == pytest.approx(0.0)  # conviction after 365 days: not counted
    assert w["investigation"] == pytest.approx(0.4)


def test_suppression_on_by_default(study):
    estimate(study, seed=1, n_boot=5, end_date=END)
    rows = study.sql("select suppressed, estimate, ci_low from conversion_rates").fetchall()
    assert all(s and e is None and lo is None for s, e, lo in rows)  # every cell is tiny


def test_secondary_suppression_protects_the_single_small_cell():
    import pandas as pd

    df = pd.DataFrame({
        "dimension": "d", "stage": "arrest", "rate_kind": "cumulative", "method": "m",
        "stratum": ["x", "y", "z", "ALL"], "numerator": [5.0, 40.0, 60.0, 105.0],
        "denominator": [500, 500, 500, 1500], "estimate": [0.01, 0.08, 0.12, 0.07],
    })
    out = disclosure.suppress(df)
    assert out["suppression"].tolist() == ["primary", "secondary", None, None]
    assert out["estimate"].isna().tolist() == [True, True, False, False]


def test_unknown_primary_is_rejected(study):
    with pytest.raises(ConfigError, match="primary must be one of"):
        _run(study, primary="nope")


def test_pav_is_monotone_and_pools_violators():
    from linkage.estimation.calibration import _pav

    out = _pav(np.array([0.1, 0.5, 0.3, 0.9]), np.array([1.0, 1.0, 1.0, 2.0]))
    assert out.tolist() == pytest.approx([0.1, 0.4, 0.4, 0.9])


def test_calibration_learns_overconfident_scores():
    """Audit pairs scored 0.975 of which half are true: the curve comes out near 0.5."""
    import pandas as pd

    from linkage.estimation.calibration import fit_calibration
    from linkage.estimation.rates import IDENTIFIERS, RateInputs

    n = 400
    refs = pd.DataFrame({"eligible": True, **{f"has_{i}": True for i in IDENTIFIERS}},
                        index=range(n))
    true = np.arange(n) % 2 == 0
    inputs = RateInputs(
        referrals=refs, pair_ref=np.arange(n), pair_case=np.arange(n),
        prob=np.full(n, 0.975), weight=np.full(n, 5.0), identity=np.full(n, 0.99),
        scored=np.ones(n, bool), link=np.ones(n, bool), audit_pair=true,
        audit_case=np.ones(n, bool), audit_sibling=np.zeros(n, bool),
        sibling=np.zeros(n, bool), stages=np.ones((n, 4), bool),
    )
    fit = fit_calibration(inputs)
    assert fit.curve[-1] == pytest.approx(0.5, abs=0.02)
    assert fit.audit_missed_share == 0.0


def _tiny_inputs(**changes):
    """Four pairs: R0-C0 an audit link (C0 recorded R0's tip; scored 0.8), R1-C1 an audit
    link blocking missed (unscored), R2-C2 a non-audit pair (0.8) and R2-C0 a false pair
    into the audit case C0 (0.2). R3 has no candidate. Stages: C0 investigated only, C1
    investigated and arrested, C2 everything."""
    import dataclasses

    import pandas as pd

    from linkage.estimation.rates import RateInputs

    refs = pd.DataFrame({"eligible": True, "offense_type": ["a", "a", "b", "b"]})
    inputs = RateInputs(
        referrals=refs, pair_ref=np.array([0, 1, 2, 2]), pair_case=np.array([0, 1, 0, 2]),
        prob=np.array([0.8, np.nan, 0.2, 0.8]), weight=np.zeros(4), identity=np.ones(4),
        scored=np.array([True, False, True, True]), link=np.array([True, False, False, True]),
        audit_pair=np.array([True, True, False, False]),
        audit_case=np.array([True, True, True, False]),
        audit_sibling=np.zeros(4, bool), sibling=np.zeros(4, bool),
        stages=np.array([[1, 0, 0, 0], [1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]], dtype=bool),
    )
    return dataclasses.replace(inputs, **changes)


def _identity_fit(weights, recording_rate=0.5):
    from linkage.estimation.calibration import CalibrationFit

    knots = np.linspace(0, 1, 11)
    z = np.zeros(11)
    return CalibrationFit(
        knots=knots, curve=knots, n_labelled=z, n_true=z, weight_of_case=np.asarray(weights),
        sibling_share=1.0, prior_shift=None, case_prior=np.ones(3), n_cases=z,
        n_audit_cases=z, n_audit_links=2, audit_missed_share=0.5,
        recording_rate=recording_rate)


def test_missed_correction_is_the_audit_difference_estimator():
    """Recording rate 0.5: each audit case stands for one more referral case, so what the
    model gets wrong there is booked once more: R0 +0.2 (scored 0.8, true), R1 +1 (true,
    never a candidate), R2 -0.2 (its false pair into C0; R2's pairs add up to 1)."""
    from linkage.estimation.calibration import pi_calibrated
    from linkage.estimation.correction import missed_correction

    inputs = _tiny_inputs()
    corr = missed_correction(inputs, _identity_fit([1.0, 1.0, 1.0]))
    np.testing.assert_allclose(corr, [[0.2, 0, 0, 0], [1, 1, 0, 0], [-0.2, 0, 0, 0], [0] * 4])
    # the audit's knowledge: R0 and R1 take their cases, R2's pair into C0 is false
    np.testing.assert_allclose(pi_calibrated(inputs, _identity_fit([1.0] * 3))[:, 0],
                               [1.0, 1.0, 0.8, 0.0])
    # a bootstrap replicate that draws C1 twice books its miss twice
    twice = missed_correction(inputs, _identity_fit([1.0, 2.0, 1.0]))
    np.testing.assert_allclose(twice[1], [2, 2, 0, 0])
    # a lower recording rate scales the correction up: 1 / 0.25 - 1 = 3
    thrice = missed_correction(inputs, _identity_fit([1.0] * 3, recording_rate=0.25))
    np.testing.assert_allclose(thrice[1], [3, 3, 0, 0])


def test_missed_lead_stands_for_its_missed_repeat_referrals():
    """R2-C0 made a repeat referral of C0's subject (a sibling): it takes C0's best
    probability 0.8, normalised with R2-C2 to 0.5 each. Sibling mass 0.5 per 1.3 of other
    link mass, so R1's missed lead adds 0.5 / 1.3 missed repeat referrals at 1 / 0.5."""
    from linkage.estimation.calibration import link_probabilities
    from linkage.estimation.correction import missed_correction, sibling_ratio

    flag = np.array([False, False, True, False])
    inputs = _tiny_inputs(sibling=flag, audit_sibling=flag)
    fit = _identity_fit([1.0] * 3)
    q = link_probabilities(inputs, fit)
    np.testing.assert_allclose(q, [0.8, 0.0, 0.5, 0.5])
    assert sibling_ratio(inputs, q) == pytest.approx(0.5 / 1.3)
    corr = missed_correction(inputs, fit)
    np.testing.assert_allclose(corr[1], np.array([1, 1, 0, 0]) * (1 + (0.5 / 1.3) / 0.5))
    np.testing.assert_allclose(corr[2], [0.5, 0, 0, 0])  # the audit takes it as true


def test_missed_correction_is_zero_without_audit_cases():
    from linkage.estimation.correction import missed_correction

    none = _tiny_inputs(audit_pair=np.zeros(4, bool), audit_case=np.zeros(4, bool))
    assert not missed_correction(none, _identity_fit([1.0] * 3)).any()
    assert not missed_correction(_tiny_inputs(), _identity_fit([1.0] * 3, None)).any()


def test_correction_spread_floors_cells_whose_audit_cases_show_no_error():
    """Recording rate 0.5 (scale (1 - a) / a^2 = 2). Investigation: audit cases C0 (error
    0.2 - 0.2 = 0) and C1 (error 1), mean square 0.5; offense a already shows error 1 in
    its own audit cases, offense b expects 0.5 x 0.8 = 0.4 of them: floor 2 x 0.4 x 0.5.
    Arrest: only C1 (error 1); b expects 0.4: floor 2 x 0.4 x 1. Spread over b's 2."""
    from linkage.estimation.correction import correction_spread

    spread = correction_spread(_tiny_inputs(), _identity_fit([1.0] * 3))
    np.testing.assert_allclose(spread.per_referral_sd,
                               [[0, 0, 0, 0], [np.sqrt(0.4) / 2, np.sqrt(0.8) / 2, 0, 0]])
    draw = spread.draw(np.random.default_rng(1))
    assert draw.shape == (4, 4) and not draw[:2].any()  # offense a: no floor
    assert draw[2, 0] == draw[3, 0] != 0  # one shared draw, spread evenly over b
