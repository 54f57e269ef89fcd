"""Time to event: conversion rates at horizons, censoring-aware, from every referral.

A fixed window drops the referrals followed up for less than the window and calls what
happens after it "no conversion". Here each referral is followed from its referral date to
the study's end date (its censoring time) and the cumulative rate at horizon h is a
**weighted Kaplan-Meier** estimate 1 - S(h): each referral's candidate cases contribute
their observed stage dates as events, weighted by the probability that the case is the
referral's link (the primary's ``pair_weights``); whatever mass has no observed event is
censored at the referral's follow-up. With full follow-up of every referral this is
exactly the windowed estimator's captured rate; with none it is undefined past the
longest follow-up (``horizons`` only reports horizons the data supports).

The primary's missed-link correction is known at the window only. It is carried to every
horizon as the ratio (captured + correction) / captured of its offense type and stage at
the window - an assumption (the links the model misses convert on the same schedule as
those it captures) stated in the output. Rates are kept monotone down the funnel
(cumulative minimum over stages).

Example:
    >>> import numpy as np
    >>> km_curve(np.array([10.0, 20.0, 30.0]), np.array([1.0, 0.0, 1.0]),
    ...          np.ones(3), np.array([10.0, 25.0])).round(4).tolist()
    [0.3333, 0.3333]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from linkage.contract import ALL_STRATUM
from linkage.errors import ConfigError
from linkage.estimation import rates as rt
from linkage.estimation.calibration import CalibrationFit, pair_weights
from linkage.estimation.correction import primary_draw

DEFAULT_HORIZONS: tuple[int, ...] = (180, 365, 730)
LONGEST_SUPPORT = 0.25
"""The longest horizon reported is the follow-up that at least this share of referrals has
(past it, the Kaplan-Meier tail rests on a few referrals)."""


def parse_horizons(value: str | Sequence[int]) -> tuple[int, ...]:
    """Horizons from ``"180,365"`` or a sequence; positive whole days.

    Example:
        >>> parse_horizons("180, 365")
        (180, 365)
    """
    try:
        days = tuple(int(x) for x in (value.split(",") if isinstance(value, str) else value)
                     if str(x).strip())
    except ValueError:
        days = ()
    if not days or min(days) <= 0:
        raise ConfigError(f"horizons must be positive whole days (e.g. 180,365), got {value!r}")
    return days


def km_curve(time: np.ndarray, event: np.ndarray, weight: np.ndarray,
             horizons: np.ndarray) -> np.ndarray:
    """Weighted Kaplan-Meier cumulative incidence 1 - S(h) at each horizon.

    Args:
        time: event or censoring time of each (weighted) record.
        event: 1 for an event, 0 for censoring (events at a time precede censorings).
        weight: each record's weight.
        horizons: times to evaluate at.
    """
    order = np.lexsort((-event, time))
    t, e, w = time[order], event[order], weight[order]
    at_risk = np.cumsum(w[::-1])[::-1]  # weight with time >= t (ties: events first)
    uniq, first = np.unique(t, return_index=True)
    d = np.add.reduceat(w * e, first) if len(t) else np.array([])
    r = at_risk[first] if len(t) else np.array([])
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(r > 0, 1.0 - d / np.where(r > 0, r, 1.0), 1.0)
    surv = np.cumprod(factor)
    idx = np.searchsorted(uniq, horizons, side="right") - 1
    return np.where(idx >= 0, 1.0 - surv[np.maximum(idx, 0)], 0.0)


def horizons_supported(follow_up: np.ndarray, horizons: Sequence[int]) -> list[int]:
    """The requested horizons within the data's support, plus the longest supported one."""
    if not len(follow_up):
        return []
    longest = int(np.quantile(follow_up, 1.0 - LONGEST_SUPPORT))
    return sorted({int(h) for h in horizons if h <= longest} | {longest})


def horizon_rates(inputs: rt.RateInputs, weights: np.ndarray, horizons: Sequence[int],
                  window: np.ndarray | None = None) -> pd.DataFrame:
    """Cumulative rates per offense type (and ALL), stage and horizon.

    Args:
        inputs: rate inputs with ``days`` and the referrals' ``follow_up_available``.
        weights: per pair, P(the pair is the referral's link).
        horizons: horizons in days (see ``horizons_supported``).
        window: optional (n_strata + 1, 4) ratio (captured + correction) / captured at the
            fixed window, applied to every horizon (last row ALL).

    Returns:
        Columns offense_type, stage, horizon_days, n_referrals, estimate.
    """
    follow = inputs.referrals["follow_up_available"].to_numpy(dtype=float)
    keep = follow >= 0
    codes, labels = rt.strata_codes(inputs.referrals, "offense_type")
    h = np.asarray(list(horizons), dtype=float)
    rows = []
    for g, label in enumerate([*labels, ALL_STRATUM]):  # offense types, a handful
        refs = keep & ((codes == g) if label != ALL_STRATUM else True)
        pairs = refs[inputs.pair_ref]
        curves = np.zeros((inputs.stages.shape[1], len(h)))
        for k in range(inputs.stages.shape[1]):  # stages, four
            days = inputs.days[pairs, k]
            ref = inputs.pair_ref[pairs]
            # a stage dated before the referral (a case already open) counts at day 0
            hit = ~np.isnan(days) & (days <= follow[ref])
            w_ev = np.where(hit, weights[pairs], 0.0)
            rest = 1.0 - np.bincount(ref, weights=w_ev, minlength=inputs.n_referrals)[refs]
            time = np.r_[np.maximum(days[hit], 0.0), follow[refs]]
            event = np.r_[np.ones(hit.sum()), np.zeros(refs.sum())]
            weight = np.r_[w_ev[hit], np.clip(rest, 0.0, None)]
            curves[k] = km_curve(time, event, weight, h)
            if window is not None:
                curves[k] *= window[g, k]
        curves = np.minimum.accumulate(np.clip(curves, 0.0, 1.0), axis=0)
        for k, stage in enumerate(rt.STAGE_NAMES):
            for j, hd in enumerate(h):
                rows.append((label, stage, int(hd), int(refs.sum()), float(curves[k, j])))
    return pd.DataFrame(rows, columns=["offense_type", "stage", "horizon_days", "n_referrals",
                                       "estimate"])


def window_ratio(inputs: rt.RateInputs, pi: np.ndarray, extra: np.ndarray) -> np.ndarray:
    """(captured + correction) / captured per offense type (and ALL) and stage at the
    fixed window, over the eligible referrals (1 where nothing is captured)."""
    codes, labels = rt.strata_codes(inputs.referrals, "offense_type")
    elig = inputs.eligible
    cap = rt.aggregate(pi, codes, len(labels), elig)
    tot = rt.aggregate(pi + extra, codes, len(labels), elig)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cap > 0, np.clip(tot, 0.0, None) / np.where(cap > 0, cap, 1), 1.0)


def horizon_frame(inputs: rt.RateInputs, fit: CalibrationFit, horizons: Sequence[int],
                  min_numerator: int = 0) -> pd.DataFrame:
    """What ``conversion_rates_horizons`` publishes: the primary at every supported
    horizon; cells whose expected count is below ``min_numerator`` are suppressed."""
    follow = inputs.referrals["follow_up_available"].to_numpy(dtype=float)
    chosen = horizons_supported(follow[follow >= 0], horizons)
    point = primary_draw(inputs, fit)
    extra = np.zeros_like(point.pi) if point.extra is None else point.extra
    frame = horizon_rates(inputs, pair_weights(inputs, fit), chosen,
                          window_ratio(inputs, point.pi, extra))
    small = np.round(frame["estimate"] * frame["n_referrals"]) < min_numerator
    return frame.assign(is_longest=frame["horizon_days"] == max(chosen, default=0),
                        suppressed=small, method="calibrated",
                        estimate=frame["estimate"].where(~small))
