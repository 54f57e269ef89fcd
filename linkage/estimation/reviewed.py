"""The review-assisted estimator (``reviewed``): the primary's prediction, corrected by the
clerical review's design.

With review labels (``linkage review import``) every eligible referral i has the primary's
expected stages m_i (the audit-calibrated link probabilities plus the missed-link
correction) and a reviewed referral also its true stages y_i (those its true case reached,
none when it has no case). A stratum D's count reaching a stage is the difference
estimator

    sum_{i in D} m_i + sum_{i in D, reviewed} w_i (y_i - m_i)

with w_i = N_h / r_h the design weight of i's review stratum h (offense type x match-
probability band). Whatever m is, this is design-unbiased: its validity rests on the
review's known inclusion probabilities, not on how agencies record tip numbers (the audit)
nor on the repeat-referral share. So the review is used *together with* the audit: the
audit shapes the prediction m, the review removes what is left of its bias, and the better
m is, the narrower the interval. Its variance is the stratified design variance of the
residuals y - m with the finite-population correction (an interval for these referrals);
a conditional rate's by linearising the ratio. Verdicts left unsure are non-response,
missing at random within their stratum (``linkage.review.estimates``). A census review
reproduces the true rates exactly, with no interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd

from linkage.errors import ConfigError
from linkage.estimation import rates as rt
from linkage.estimation.intervals import Draw, rate_frame
from linkage.review.estimates import (
    ReviewDesign,
    corrected_ci,
    review_design,
    review_outcomes,
    stage_error_scale,
)
from linkage.review.labels import has_labels

METHOD = "reviewed"
ASSUMPTION = ("the reviewers' verdicts are right, and unsure ones are missing at random "
              "within their review stratum (nothing about the audit or repeat referrals)")


def reviewed_inputs(con: duckdb.DuckDBPyConnection, inputs: rt.RateInputs,
                    censoring: rt.Censoring) -> tuple[ReviewDesign, np.ndarray] | None:
    """The review design and each referral's true stages (n, 4), both in ``inputs``'
    referral order, or None without review labels.

    Raises:
        ConfigError: the review sample was drawn from other referrals than these.
    """
    if not has_labels(con):
        return None
    o = review_outcomes(con, censoring.follow_up_days, censoring.end_date)
    pos = pd.Index(o["referral_id"].astype(str)).get_indexer(
        inputs.referrals["referral_id"].astype(str))
    if (pos < 0).any():
        raise ConfigError(f"the review sample was drawn from other referrals: "
                          f"{int((pos < 0).sum()):,} of this study's referrals are not in its "
                          "frame; draw and import a new review sample")
    d = review_design(o)
    design = ReviewDesign(d.stratum[pos], d.n_pop, d.resolved[pos], d.r_h, d.band)
    true = np.column_stack([o[f"true_{s}"][pos] for s in rt.STAGE_NAMES]).astype(float)
    return design, true


def _cells(design: ReviewDesign, resid: np.ndarray, m: np.ndarray, dom: np.ndarray,
           pool: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """A domain's estimated counts (4,), the variances of its 7 rates (4 cumulative, 3
    conditional), Kish's effective sample size and whether it was reviewed in full.

    ``pool`` (the eligible referrals of every offense type) is what a band's variance is
    pooled over; an error the review has not seen moves stage k with the chance the
    prediction gives a case of the domain of reaching it (``stage_error_scale``)."""
    n = float(dom.sum())
    counts, var = m[dom].sum(axis=0), np.zeros(len(rt.STAGE_NAMES) * 2 - 1)
    scale = [stage_error_scale(c / counts[0]) if counts[0] > 0 else 1.0 for c in counts]
    census = True
    for k in range(m.shape[1]):  # stages, four
        corr, v, full = design.total(resid[:, k], dom, pool=pool, scale=scale[k])
        counts[k] += corr
        var[k] = v / n ** 2 if n else np.nan
        census &= full
    for k in range(1, m.shape[1]):
        ratio = counts[k] / counts[k - 1] if counts[k - 1] > 0 else 0.0
        _, v, _ = design.total(resid[:, k] - ratio * resid[:, k - 1], dom, pool=pool,
                               scale=scale[k - 1])
        var[m.shape[1] + k - 1] = v / counts[k - 1] ** 2 if counts[k - 1] > 0 else np.nan
    return counts, var, design.kish(dom), census


def reviewed_table(inputs: rt.RateInputs, prediction: Draw, review: tuple[ReviewDesign,
                   np.ndarray], dimensions: Sequence[str] = rt.STRATA) -> pd.DataFrame:
    """The ``reviewed`` method's rows in ``method_table``'s layout (every dimension).

    Args:
        inputs: the rate inputs.
        prediction: the primary's point estimate (its ``total()`` is m).
        review: ``reviewed_inputs``' design and true stages.
        dimensions: strata estimated.
    """
    design, true = review
    eligible = inputs.eligible
    m = np.where(eligible[:, None], np.asarray(prediction.total(), dtype=float), 0.0)
    resid = np.where(eligible[:, None], true - m, 0.0)
    frames = []
    for dim in dimensions:
        codes, labels = rt.strata_codes(inputs.referrals, dim)
        cells = [_cells(design, resid, m, eligible & ((codes == g) if g < len(labels) else True),
                        eligible)
                 for g in range(len(labels) + 1)]  # strata, then ALL
        counts = np.array([c[0] for c in cells])
        den = np.array([float((eligible & (codes == g)).sum()) for g in range(len(labels))]
                       + [float(eligible.sum())])
        df = rate_frame(counts, den, dim, labels)
        est, per = df["estimate"].to_numpy(), rt.RATES_PER_STRATUM
        lo, hi = np.empty(len(est)), np.empty(len(est))
        for i, (_, var, kish, census) in enumerate(cells):  # strata x 7 rates
            for j in range(per):
                lo[i * per + j], hi[i * per + j] = corrected_ci(est[i * per + j], var[j],
                                                                census, kish)
        df["ci_low"], df["ci_high"] = np.fmin(lo, est), np.fmax(hi, est)
        df["method"] = METHOD
        frames.append(df)
    return pd.concat(frames, ignore_index=True)

