"""Spec tests of the estimators on tiny hand-made linked data with exactly known answers."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pytest

from linkage import disclosure
from linkage.db import connect
from linkage.estimate import METHODS, estimate, normalise

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
    with pytest.raises(ValueError, match="primary must be one of"):
        _run(study, primary="nope")


def test_pav_is_monotone_and_pools_violators():
    from linkage.estimate import _pav

    out = _pav(np.array([0.1, 0.5, 0.3, 0.9]), np.array([1.0, 1.0, 1.0, 2.0]))
    assert out.tolist() == pytest.approx([0.1, 0.4, 0.4, 0.9])


def test_calibration_learns_overconfident_scores():
    """Audit pairs scored 0.975 of which half are true: the curve comes out near 0.5."""
    import pandas as pd

    from linkage.estimate import fit_calibration
    from linkage.rates import IDENTIFIERS, RateInputs

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


def _tiny_inputs():
    """Three pairs: R0-C0 audit link (scored 0.8), R1-C1 audit link that blocking missed
    (unscored), R2-C2 a scored non-audit pair (0.8); R3 has no candidate. Case stages:
    C0 investigated only, C1 investigated and arrested, C2 everything."""
    import pandas as pd

    from linkage.rates import RateInputs

    refs = pd.DataFrame({"eligible": True, "offense_type": ["a", "a", "b", "b"]})
    return RateInputs(
        referrals=refs, pair_ref=np.array([0, 1, 2]), pair_case=np.array([0, 1, 2]),
        prob=np.array([0.8, np.nan, 0.8]), weight=np.zeros(3), identity=np.ones(3),
        scored=np.array([True, False, True]), link=np.array([True, False, True]),
        audit_pair=np.array([True, True, False]), audit_case=np.array([True, True, False]),
        audit_sibling=np.zeros(3, bool), sibling=np.zeros(3, bool),
        stages=np.array([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]], dtype=bool),
    )


def _identity_fit(weights):
    from linkage.estimate import CalibrationFit

    knots = np.linspace(0, 1, 11)
    z = np.zeros(11)
    return CalibrationFit(
        knots=knots, curve=knots, n_labelled=z, n_true=z, weight_of_case=np.asarray(weights),
        sibling_share=0.0, prior_shift=None, case_prior=np.ones(3), n_cases=z,
        n_audit_cases=z, n_audit_links=2, audit_missed_share=0.5)


def test_missed_correction_is_the_audit_difference_estimator():
    """Audit share = 0.8 / (0.8 + 0.8) = 0.5, so each audit miss stands for one more
    missed link: R0 adds (1 - 0.8) x C0's stages, R1 (all missed) adds C1's stages."""
    from linkage.estimate import audit_share, missed_correction, pi_calibrated

    inputs = _tiny_inputs()
    fit = _identity_fit([1.0, 1.0, 1.0])
    q = np.array([0.8, 0.0, 0.8])
    assert audit_share(inputs, q, fit.weight_of_case) == pytest.approx(0.5)
    corr = missed_correction(inputs, fit)
    np.testing.assert_allclose(corr, [[0.2, 0, 0, 0], [1, 1, 0, 0], [0] * 4, [0] * 4])
    # audit referrals take their known link; R2 keeps its probability
    assert pi_calibrated(inputs, fit)[:, 0].tolist() == pytest.approx([1.0, 1.0, 0.8, 0.0])
    # a bootstrap replicate that draws C1 twice books its miss twice
    twice = missed_correction(inputs, _identity_fit([1.0, 2.0, 1.0]))
    assert twice[1].tolist() == pytest.approx([2, 2, 0, 0])


def test_missed_correction_is_zero_without_audit_links():
    import dataclasses

    from linkage.estimate import missed_correction

    inputs = _tiny_inputs()
    none = dataclasses.replace(inputs, audit_pair=np.zeros(3, bool))
    assert not missed_correction(none, _identity_fit([1.0, 1.0, 1.0])).any()
