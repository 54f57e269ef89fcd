"""A published method beside ours: multiple imputation of links with Rubin's rules.

Goldstein, Harron and Wade (2012, "The analysis of record-linked data using multiple
imputation with data value priors", Statistics in Medicine) treat the unknown link as
missing data: each referral's outcome is imputed ``N_IMPUTATIONS`` times by drawing its
link from its candidate cases' link probabilities (or no link, with the rest), every
completed data set is analysed as if the links were true (a binomial share), and the
results are combined by Rubin's rules (1987): the mean of the estimates, total variance
W + (1 + 1/m) B (within- plus between-imputation), a t interval with Rubin's degrees of
freedom. The link probabilities are the primary's (calibrated on the audit sample, with
what the audit knows); the audit correction for links the model misses is not part of the
method. Its interval is for the process (it includes referral sampling).

Example:
    >>> rubin(np.array([[0.1], [0.3]]), np.array([[0.0], [0.0]]))[0].round(3).tolist()
    [0.2]
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from linkage.estimation import rates as rt
from linkage.estimation.intervals import CI_LEVEL, Draw, method_table

N_IMPUTATIONS = 20
"""Imputations (Rubin's rules lose little efficiency beyond 20 for shares like these)."""
METHOD = "imputed"


def impute_links(inputs: rt.RateInputs, weights: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    """One completed data set: per referral, the stages of one candidate drawn with its
    link probability (none with the rest), an (n_referrals, 4) array of 0/1.

    Pairs must be grouped by referral (``rates_pairs`` is ordered by ``ref_idx``).
    """
    n = inputs.n_referrals
    cum = np.cumsum(weights)
    total = np.bincount(inputs.pair_ref, weights=weights, minlength=n)
    before = np.cumsum(total) - total  # link mass of earlier referrals
    upper = cum - before[inputs.pair_ref]
    lower = upper - weights
    u = rng.random(n)[inputs.pair_ref]
    chosen = (u >= lower) & (u < upper)
    out = np.empty((n, inputs.stages.shape[1]))
    for k in range(out.shape[1]):  # stages, four
        out[:, k] = np.bincount(inputs.pair_ref, weights=chosen * inputs.stages[:, k],
                                minlength=n)
    return np.minimum(out, 1.0)


def rubin(estimates: np.ndarray, variances: np.ndarray) -> tuple[np.ndarray, ...]:
    """Rubin's rules over the first axis (imputations): mean, lower and upper bound."""
    m = estimates.shape[0]
    with warnings.catch_warnings():  # cells empty in every imputation (0 / 0) stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        qbar = np.nanmean(estimates, axis=0)
        w = np.nanmean(variances, axis=0)
        b = np.nanvar(estimates, axis=0, ddof=1) if m > 1 else np.zeros_like(qbar)
    t = w + (1 + 1 / m) * b
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (1 + 1 / m) * b / np.where(w > 0, w, np.nan)
        df = np.where(b > 0, (m - 1) * (1 + 1 / np.where(r > 0, r, np.nan)) ** 2, np.inf)
    q = stats.t.ppf(1 - (1 - CI_LEVEL) / 2, np.nan_to_num(df, nan=np.inf))
    half = q * np.sqrt(t)
    return qbar, qbar - half, qbar + half


def mi_table(inputs: rt.RateInputs, weights: np.ndarray, rng: np.random.Generator,
             dimensions: Sequence[str], m: int = N_IMPUTATIONS) -> pd.DataFrame:
    """The ``imputed`` method's rates, one row per cell as ``method_table`` gives them."""
    tables = [method_table(inputs, METHOD, Draw(impute_links(inputs, weights, rng)), None,
                           1, rng, dimensions=dimensions) for _ in range(m)]
    est = np.stack([t["estimate"].to_numpy(dtype=float) for t in tables])
    den = np.stack([t["denominator"].to_numpy(dtype=float) for t in tables])
    with np.errstate(invalid="ignore", divide="ignore"):
        var = est * (1 - est) / np.where(den > 0, den, np.nan)
    qbar, lo, hi = rubin(est, var)
    out = tables[0].copy()
    out["numerator"] = np.mean([t["numerator"].to_numpy(dtype=float) for t in tables], axis=0)
    out["denominator"] = den.mean(axis=0)
    out["estimate"] = qbar
    out["ci_low"] = np.fmin(np.clip(lo, 0, 1), qbar)
    out["ci_high"] = np.fmax(np.clip(hi, 0, 1), qbar)
    return out
