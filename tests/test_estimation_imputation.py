"""Multiple imputation of links with Rubin's rules, with exactly known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from test_estimate import _run, _tiny_inputs, make_study

from linkage.db import connect
from linkage.estimation.imputation import impute_links, mi_table, rubin


def test_certain_links_impute_the_same_data_every_time():
    """Weights 1 or 0: every completed data set is the same, B = 0, and the interval is
    the binomial (normal) one of the share."""
    inputs = _tiny_inputs()
    w = np.array([1.0, 1.0, 0.0, 1.0])  # R0-C0, R1-C1, R2-C2 true; R2-C0 false
    rng = np.random.default_rng(1)
    first = impute_links(inputs, w, rng)
    np.testing.assert_array_equal(first, [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1], [0] * 4])
    df = mi_table(inputs, w, rng, ("offense_type",), m=5)
    row = df[(df.stratum == "ALL") & (df.rate_kind == "cumulative")
             & (df.stage == "investigation")].iloc[0]
    assert row.estimate == pytest.approx(0.75)
    half = 1.959964 * np.sqrt(0.75 * 0.25 / 4)
    assert row.ci_low == pytest.approx(0.75 - half, abs=1e-6)
    assert row.ci_high == pytest.approx(1.0)  # clipped


def test_draw_frequencies_follow_the_weights():
    """R2's pairs weigh 0.25 (C0, investigated) and 0.5 (C2, all stages): over many draws
    R2 is investigated 75% of the time and convicted 50%."""
    inputs = _tiny_inputs()
    w = np.array([1.0, 1.0, 0.25, 0.5])
    rng = np.random.default_rng(7)
    draws = np.stack([impute_links(inputs, w, rng)[2] for _ in range(4000)])
    assert draws[:, 0].mean() == pytest.approx(0.75, abs=0.02)
    assert draws[:, 3].mean() == pytest.approx(0.5, abs=0.02)


def test_rubin_combines_within_and_between():
    """Estimates 0.2 and 0.4 with within-variance 0.01 each: T = 0.01 + 1.5 x 0.02, df =
    (m - 1)(1 + 1 / r)^2 with r = 1.5 x 0.02 / 0.01 = 3."""
    q, lo, hi = rubin(np.array([[0.2], [0.4]]), np.array([[0.01], [0.01]]))
    t = 0.01 + 1.5 * 0.02
    half = stats.t.ppf(0.975, (1 + 1 / 3) ** 2) * np.sqrt(t)
    np.testing.assert_allclose([q[0], lo[0], hi[0]], [0.3, 0.3 - half, 0.3 + half])


def test_imputed_method_in_a_whole_estimate_is_in_range_and_monotone():
    con = make_study(connect())
    _run(con)
    df = con.sql("select * from conversion_rates where method = 'imputed' and "
                 "rate_kind = 'cumulative' order by offense_type, stage").df()
    assert len(df) == 12 and df.estimate.between(0, 1).all()
    assert (df.ci_low <= df.estimate).all() and (df.estimate <= df.ci_high).all()
    for _, g in df.groupby("offense_type"):
        est = g.set_index("stage").estimate[["investigation", "arrest", "charge",
                                             "conviction"]].to_numpy()
        assert (np.diff(est) <= 1e-12).all()
