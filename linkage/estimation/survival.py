"""Time to event: conversion rates at horizons, censoring-aware, from every referral.

A fixed window drops the referrals followed up for less than the window and calls what
happens after it "no conversion". Here each referral is followed from its referral date to
the study's end date (its censoring time) and the cumulative rate at horizon h is a
**weighted Kaplan-Meier** estimate 1 - S(h): each referral's candidate cases contribute
their observed stage dates as events, weighted by the probability that the case is the
referral's link (the primary's ``pair_weights``); whatever mass has no observed event is
censored at the referral's follow-up. With full follow-up of every referral this is
exactly the windowed estimator's captured rate; with none it is undefined past the
longest follow-up (``horizons`` only reports horizons the data supports). Dates are whole
days, so the estimate is computed on a day grid (events on a day before the censorings
of that day): no sort, one ``bincount`` per stage, which is what makes an interval of
bootstrap draws affordable.

The primary's missed-link correction is known at the window only. It is carried to every
horizon as the ratio (captured + correction) / captured of its offense type and stage at
the window - an assumption (the links the model misses convert on the same schedule as
those it captures) stated in the output. Rates are kept monotone down the funnel
(cumulative minimum over stages).

**Intervals** (``ci_low`` / ``ci_high``, for these referrals): each of the primary's
bootstrap replicates (audit cases resampled, everything refitted, the correction's draws)
gives its own pair weights and window ratio; one link per referral is imputed from those
weights (or none), and the Kaplan-Meier rate of the imputed links, times the replicate's
ratio, is one draw; percentiles of the draws. ``process_ci_*`` add referral sampling as
the windowed table does, with the referrals followed for at least h days as n.

Example:
    >>> import numpy as np
    >>> km_on_days(np.array([[0, 1.0, 0]]), np.array([[0, 0, 2.0]]), np.array([1])).round(4)
    array([[0.3333]])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from linkage.contract import ALL_STRATUM
from linkage.errors import ConfigError
from linkage.estimation import rates as rt
from linkage.estimation.calibration import CalibrationFit, pair_weights
from linkage.estimation.correction import primary_draw
from linkage.estimation.intervals import CI_LEVEL, Draw
from linkage.estimation.process import FOR_THESE, Z

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


def km_on_days(events: np.ndarray, censored: np.ndarray, horizons: np.ndarray) -> np.ndarray:
    """Weighted Kaplan-Meier cumulative incidence 1 - S(h) from day counts.

    Args:
        events: (groups, days) event weight per day; the last day holds everything later.
        censored: (groups, days) censored weight per day (at risk on its day, after the
            day's events).
        horizons: days to evaluate at (each below the last day).

    Returns:
        (groups, len(horizons)).
    """
    at_risk = np.cumsum((events + censored)[:, ::-1], axis=1)[:, ::-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(at_risk > 0, 1.0 - events / np.where(at_risk > 0, at_risk, 1.0), 1.0)
    return 1.0 - np.cumprod(factor, axis=1)[:, horizons]


def horizons_supported(follow_up: np.ndarray, horizons: Sequence[int]) -> list[int]:
    """The requested horizons within the data's support, plus the longest supported one."""
    if not len(follow_up):
        return []
    longest = int(np.quantile(follow_up, 1.0 - LONGEST_SUPPORT))
    return sorted({int(h) for h in horizons if h <= longest} | {longest})


@dataclass(frozen=True)
class HorizonGrid:
    """What the time-to-event rates need that does not depend on the link weights,
    prepared once per estimate: each kept referral's offense code and follow-up day, and
    per stage the pairs whose stage date falls within their referral's follow-up, with
    their day. Days past the last horizon share one bin (they only count as at risk)."""

    horizons: np.ndarray
    labels: list[str]
    pair_ref: np.ndarray
    ref_code: np.ndarray  # offense code per referral, -1 = never followed (end before referral)
    ref_day: np.ndarray  # follow-up day bin per followed referral
    hit_pairs: tuple[np.ndarray, ...]  # per stage
    hit_day: tuple[np.ndarray, ...]  # per stage
    by_ref: np.ndarray  # pair order by referral (stable), for imputing one link each

    @classmethod
    def of(cls, inputs: rt.RateInputs, horizons: Sequence[int]) -> HorizonGrid:
        follow = inputs.referrals["follow_up_available"].to_numpy(dtype=float)
        codes, labels = rt.strata_codes(inputs.referrals, "offense_type")
        h = np.asarray(list(horizons), dtype=np.int64)
        last = int(h.max(initial=0)) + 1
        kept = follow >= 0
        hits, hit_days = [], []
        for k in range(inputs.stages.shape[1]):  # stages, four
            days = inputs.days[:, k]
            # a stage dated before the referral (a case already open) counts at day 0
            hit = ~np.isnan(days) & kept[inputs.pair_ref] & (
                days <= np.where(kept, follow, -1.0)[inputs.pair_ref])
            hits.append(np.flatnonzero(hit))
            hit_days.append(np.clip(np.floor(days[hit]), 0, last).astype(np.int64))
        return cls(h, list(labels), inputs.pair_ref, np.where(kept, codes, -1),
                   np.clip(np.floor(np.where(kept, follow, 0)), 0, last).astype(np.int64),
                   tuple(hits), tuple(hit_days), np.argsort(inputs.pair_ref, kind="stable"))

    @property
    def n_days(self) -> int:
        return int(self.horizons.max(initial=0)) + 2

    def referrals_at(self) -> np.ndarray:
        """(offense types + ALL, horizons): referrals followed, and followed >= h days."""
        kept = self.ref_code >= 0
        n = len(self.labels)
        out = np.zeros((n + 1, len(self.horizons) + 1))
        for j, h in enumerate([0, *self.horizons]):
            here = kept & (self.ref_day >= h)
            out[:n, j] = np.bincount(self.ref_code[here], minlength=n)
            out[n, j] = here.sum()
        return out

    def curves(self, weights: np.ndarray, window: np.ndarray | None = None) -> np.ndarray:
        """(offense types + ALL, 4 stages, horizons) cumulative rates under ``weights``
        (per pair, P(the pair is the referral's link)), times ``window`` (offense types +
        ALL, 4) if given; clipped to [0, 1] and monotone down the funnel."""
        n, n_days = len(self.labels), self.n_days
        out = np.zeros((n + 1, len(self.hit_pairs), len(self.horizons)))
        kept = self.ref_code >= 0
        cens_bin = self.ref_code[kept] * n_days + self.ref_day[kept]
        # all mass is censored at the referral's follow-up except what has an event
        everyone = np.bincount(cens_bin, minlength=n * n_days).astype(float)
        for k, (p, day) in enumerate(zip(self.hit_pairs, self.hit_day, strict=True)):
            w, ref = weights[p], self.pair_ref[p]
            ev = np.bincount(self.ref_code[ref] * n_days + day, weights=w,
                             minlength=n * n_days).reshape(n, n_days)
            # a referral's events can add up past 1 only by rounding: clip as before
            taken = np.bincount(ref, weights=w, minlength=len(self.ref_code))
            over = np.flatnonzero(taken > 1.0)
            gone = np.bincount(self.ref_code[ref] * n_days + self.ref_day[ref], weights=w,
                               minlength=n * n_days)
            if len(over):
                gone -= np.bincount(self.ref_code[over] * n_days + self.ref_day[over],
                                    weights=taken[over] - 1.0, minlength=n * n_days)
            ce = (everyone - gone).reshape(n, n_days)
            out[:, k] = km_on_days(np.vstack([ev, ev.sum(axis=0)]),
                                   np.vstack([ce, ce.sum(axis=0)]), self.horizons)
        if window is not None:
            out *= window[:, :, None]
        return np.minimum.accumulate(np.clip(out, 0.0, 1.0), axis=1)

    def impute(self, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One link per referral drawn from its pairs' weights (or none, with the rest):
        the chosen pair weighs 1, every other 0."""
        ws = weights[self.by_ref]
        ref = self.pair_ref[self.by_ref]
        cum = np.cumsum(ws)
        start = np.r_[0, np.flatnonzero(np.diff(ref)) + 1]
        base = np.repeat((cum - ws)[start], np.diff(np.r_[start, len(ref)]))
        u = rng.random(len(self.ref_code))[ref]
        chosen = (cum - ws - base <= u) & (u < cum - base) & (ws > 0)
        out = np.zeros(len(weights))
        out[self.by_ref[chosen]] = 1.0
        return out


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
    grid = HorizonGrid.of(inputs, horizons)
    return _frame(grid, grid.curves(weights, window))


def _frame(grid: HorizonGrid, curves: np.ndarray) -> pd.DataFrame:
    """One row per offense type (and ALL), stage and horizon of a (strata, 4, H) array."""
    at = grid.referrals_at()
    n_s, n_k, n_h = curves.shape
    return pd.DataFrame({
        "offense_type": np.repeat([*grid.labels, ALL_STRATUM], n_k * n_h),
        "stage": np.tile(np.repeat(rt.STAGE_NAMES, n_h), n_s),
        "horizon_days": np.tile(grid.horizons, n_s * n_k).astype(int),
        "n_referrals": np.repeat(at[:, 0], n_k * n_h).astype(np.int64),
        "n_followed": np.tile(at[:, 1:], (1, n_k)).ravel().astype(np.int64),
        "estimate": curves.ravel(),
    })


def window_ratio(inputs: rt.RateInputs, pi: np.ndarray, extra: np.ndarray | None) -> np.ndarray:
    """(captured + correction) / captured per offense type (and ALL) and stage at the
    fixed window, over the eligible referrals (1 where nothing is captured)."""
    codes, labels = rt.strata_codes(inputs.referrals, "offense_type")
    elig = inputs.eligible
    cap = rt.aggregate(pi, codes, len(labels), elig)
    tot = cap if extra is None else rt.aggregate(pi + extra, codes, len(labels), elig)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cap > 0, np.clip(tot, 0.0, None) / np.where(cap > 0, cap, 1), 1.0)


class HorizonDraws:
    """Collects one time-to-event draw per bootstrap replicate of the primary (``add`` is
    handed to the primary's interval loop, so the refits are shared, not repeated)."""

    def __init__(self, inputs: rt.RateInputs, grid: HorizonGrid, rng: np.random.Generator):
        self.grid, self.rng = grid, rng
        # window_ratio's sums as one bincount per replicate: bin offense x stage, the
        # ineligible referrals in a row of their own that is dropped
        codes, labels = rt.strata_codes(inputs.referrals, "offense_type")
        self.n_strata, n_stages = len(labels), inputs.stages.shape[1]
        row = np.where(inputs.eligible, codes, self.n_strata)
        self.bins = (row[:, None] * n_stages + np.arange(n_stages)).ravel()
        self.draws: list[np.ndarray] = []

    def _sums(self, values: np.ndarray) -> np.ndarray:
        """(offense types + ALL, 4) sums over the eligible referrals."""
        k = self.n_strata
        flat = np.bincount(self.bins, weights=values.ravel(), minlength=(k + 1) * 4)
        per = flat.reshape(k + 1, -1)[:k]
        return np.vstack([per, per.sum(axis=0)])

    def add(self, weights: np.ndarray, draw: Draw) -> None:
        cap = self._sums(draw.pi)
        tot = cap if draw.extra is None else self._sums(draw.total())
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(cap > 0, np.clip(tot, 0.0, None) / np.where(cap > 0, cap, 1), 1.0)
        self.draws.append(self.grid.curves(self.grid.impute(weights, self.rng), ratio))

    def interval(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Percentile interval per cell, flattened like ``_frame`` (None without draws)."""
        if not self.draws:
            return None
        sims, alpha = np.stack(self.draws), (1 - CI_LEVEL) / 2
        return (np.quantile(sims, alpha, axis=0).ravel(),
                np.quantile(sims, 1 - alpha, axis=0).ravel())


def horizon_grid(inputs: rt.RateInputs, horizons: Sequence[int]) -> HorizonGrid:
    """The grid of the supported horizons among ``horizons`` (see ``horizons_supported``)."""
    follow = inputs.referrals["follow_up_available"].to_numpy(dtype=float)
    return HorizonGrid.of(inputs, horizons_supported(follow[follow >= 0], horizons))


def horizon_frame(inputs: rt.RateInputs, fit: CalibrationFit, grid: HorizonGrid,
                  draws: HorizonDraws | None = None, min_numerator: int = 0) -> pd.DataFrame:
    """What ``conversion_rates_horizons`` publishes: the primary at every supported
    horizon with its two intervals; cells whose expected count is below ``min_numerator``
    are suppressed."""
    point = primary_draw(inputs, fit)
    frame = _frame(grid, grid.curves(pair_weights(inputs, fit),
                                     window_ratio(inputs, point.pi, point.extra)))
    p = frame["estimate"].to_numpy()
    bounds = draws.interval() if draws is not None else None
    lo, hi = bounds if bounds is not None else (np.full(len(p), np.nan),) * 2
    lo, hi = np.fmin(lo, p), np.fmax(hi, p)
    n = frame["n_followed"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(((hi - lo) / (2 * Z)) ** 2 + np.where(n > 0, p * (1 - p) / n, np.nan))
    small = np.round(p * frame["n_referrals"]) < min_numerator
    frame = frame.assign(
        ci_low=lo, ci_high=hi, process_ci_low=np.fmin(np.clip(p - Z * se, 0, 1), lo),
        process_ci_high=np.fmax(np.clip(p + Z * se, 0, 1), hi), interval=FOR_THESE,
        is_longest=frame["horizon_days"] == int(grid.horizons.max(initial=0)),
        suppressed=small, method="calibrated")
    cols = ["estimate", "ci_low", "ci_high", "process_ci_low", "process_ci_high"]
    frame[cols] = frame[cols].where(np.repeat(~small.to_numpy()[:, None], len(cols), axis=1))
    return frame
