"""The repeat-referral share as a sensitivity parameter: estimates at the ends of its range,
bounds, tipping point and the assumption the point rests on, with exactly known answers."""

from __future__ import annotations

import numpy as np
import pytest
from test_estimate import _run, _tiny_inputs, make_study

from linkage.db import connect
from linkage.estimation.bounds import tipping_point, with_bounds
from linkage.estimation.calibration import fit_calibration, refine
from linkage.estimation.correction import primary_draw
from linkage.estimation.intervals import method_table

DIMS = ("offense_type",)


def test_tipping_point_is_linear_between_the_ends():
    np.testing.assert_allclose(tipping_point(np.array([0.10]), np.array([0.14]), 1.0), [0.25])
    assert np.isnan(tipping_point(np.array([0.3]), np.array([0.3]), 1.0)).all()


def _table(inputs, share):
    rng = np.random.default_rng(1)
    fit = refine(inputs, fit_calibration(inputs, sibling_share=share))
    t = method_table(inputs, "calibrated", primary_draw(inputs, fit), None, 1, rng,
                     dimensions=DIMS)
    return with_bounds(t, inputs, "calibrated", share, rng, DIMS)


def test_bounds_of_a_repeat_referral_into_an_audit_case():
    """R2-C0 is a repeat referral of C0's subject (identity 1) into the audit case C0,
    which is investigated: R2 is investigated with probability = the share (its other
    candidate C2 is investigated too but R2's pairs add up to at most 1: 0.5 at share 0,
    1 at share 1). ALL investigation: 0.5 at share 0, 0.75 at 1, 0.625 at the assumed 0.5;
    1 point needs a share 0.01 / 0.25 = 0.04 off."""
    flag = np.array([False, False, True, False])
    df = _table(_tiny_inputs(sibling=flag, audit_sibling=flag), 0.5)
    row = df[(df.stratum == "ALL") & (df.rate_kind == "cumulative")
             & (df.stage == "investigation")].iloc[0]
    assert row.estimate == pytest.approx(0.625, abs=1e-3)
    assert row.estimate_at_low == pytest.approx(0.5, abs=1e-3)
    assert row.estimate_at_high == pytest.approx(0.75, abs=1e-3)
    assert row.tipping_point == pytest.approx(0.04, rel=1e-2)
    assert row.bound_low == pytest.approx(row.ci_low - 0.125, abs=1e-3)
    assert row.bound_high == pytest.approx(min(row.ci_high + 0.125, 1.0), abs=1e-3)
    assert row.assumption.startswith("sibling_share = 0.5 (range 0-1)")


def test_bounds_hold_the_point_and_its_interval_in_a_whole_estimate():
    con = make_study(connect())
    _run(con)
    df = con.sql("select * from conversion_rates where method = 'calibrated'").df()
    df = df[df.estimate.notna()]
    assert len(df) and df.assumption.str.startswith("sibling_share = 1 ").all()
    assert (df.bound_low <= df.ci_low + 1e-12).all()
    assert (df.ci_high <= df.bound_high + 1e-12).all()
    assert ((df.bound_low >= 0) & (df.bound_high <= 1)).all()
    # the default share is the range's top: the point estimate is the high end's
    np.testing.assert_allclose(df.estimate, df.estimate_at_high, atol=1e-9)
    others = con.sql("select count(*) from conversion_rates where method <> 'calibrated' "
                     "and (bound_low is not null or assumption is not null)").fetchall()[0][0]
    assert others == 0


def test_process_interval_adds_referral_sampling():
    """A share 0.2 of 400 referrals known exactly (no linkage uncertainty): the process
    interval is the normal binomial one, 0.2 +- 1.96 x 0.02; Wilson methods keep theirs."""
    import pandas as pd

    from linkage.estimation.process import FOR_PROCESS, FOR_THESE, with_process_intervals

    t = pd.DataFrame({"method": ["calibrated", "threshold"], "estimate": [0.2, 0.2],
                      "ci_low": [0.2, 0.16], "ci_high": [0.2, 0.24],
                      "denominator": [400.0, 400.0]})
    out = with_process_intervals(t)
    np.testing.assert_allclose(out.process_ci_low, [0.2 - 1.959964 * 0.02, 0.16])
    np.testing.assert_allclose(out.process_ci_high, [0.2 + 1.959964 * 0.02, 0.24])
    assert out.interval.tolist() == [FOR_THESE, FOR_PROCESS]
