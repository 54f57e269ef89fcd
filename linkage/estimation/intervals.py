"""Intervals and the per-method table: from each method's per-referral stages to rates
with 95% CIs per stratum (Wilson for methods that take links as true; imputation and
bootstrap draws, percentiles, for the others).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from linkage.contract import ALL_STRATUM
from linkage.estimation.rates import (
    RATES_PER_STRATUM,
    STAGE_NAMES,
    STRATA,
    RateInputs,
    aggregate,
    strata_codes,
)

CI_LEVEL = 0.95


@dataclass(frozen=True)
class Draw:
    """One method's per-referral expected stages: ``pi`` (n, 4), non-increasing over
    stages, whose outcomes the interval draws impute, plus ``extra`` (n, 4) expected
    counts added as they are (the primary's missed-link correction; None = none).

    Example:
        >>> Draw(np.zeros((2, 4))).total().shape
        (2, 4)
    """

    pi: np.ndarray
    extra: np.ndarray | None = None

    def total(self) -> np.ndarray:
        """pi plus extra: the per-referral expected counts of the point estimate."""
        return self.pi if self.extra is None else self.pi + self.extra


def method_table(
    inputs: RateInputs,
    method: str,
    point: Draw,
    draw: Callable[[], Draw] | None,
    n_boot: int,
    rng: np.random.Generator,
    dimensions: Sequence[str] = STRATA,
) -> pd.DataFrame:
    """Rates of one method for every dimension, with intervals (percentiles of ``draw``
    replicates, or Wilson intervals when the method has no draws).

    Example:
        >>> method_table(inputs, "threshold", Draw(pi), None, 1, rng).columns[:3].tolist()
        ... # doctest: +SKIP
        ['dimension', 'stratum', 'stage']
    """
    eligible = inputs.eligible
    frames = []
    dims = [_Dimension.of(inputs.referrals, d, eligible) for d in dimensions]
    sims = _simulate_counts(inputs, dims, draw, n_boot, rng) if draw else None
    total = np.asarray(point.total(), dtype=float)[eligible]
    for d, dim in enumerate(dims):
        df = rate_frame(dim.aggregate(total), dim.den, dim.name, dim.labels)
        if sims is None:
            lo, hi = _wilson(df.numerator.to_numpy(), df.denominator.to_numpy())
        else:
            lo, hi = _percentile(sims[d])
        est = df["estimate"].to_numpy()
        df["ci_low"] = np.fmin(np.clip(lo, 0.0, 1.0), est)
        df["ci_high"] = np.fmax(np.clip(hi, 0.0, 1.0), est)
        df["method"] = method
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def rate_frame(counts: np.ndarray, den: np.ndarray, dimension: str,
               labels: list[str]) -> pd.DataFrame:
    """``rate_rows`` of stage counts (strata + ALL, 4) as a frame with ``n_referrals``
    and the estimate; numerators kept within [0, denominator]."""
    n, later = len(den), list(STAGE_NAMES[1:])
    # rate_rows' rows as columns: per stratum 4 cumulative rates, then 3 conditional
    df = pd.DataFrame({
        "dimension": dimension,
        "stratum": np.repeat(np.array([*labels, ALL_STRATUM], dtype=object),
                             RATES_PER_STRATUM),
        "stage": np.tile(np.array([*STAGE_NAMES, *later], dtype=object), n),
        "rate_kind": np.tile(np.array(["cumulative"] * len(STAGE_NAMES)
                                      + ["conditional"] * len(later), dtype=object), n),
        "numerator": np.concatenate([counts, counts[:, 1:]], axis=1).ravel(),
        "denominator": np.concatenate([np.repeat(np.asarray(den, dtype=float)[:, None],
                                                 len(STAGE_NAMES), axis=1),
                                       counts[:, :-1]], axis=1).ravel(),
    })
    df["n_referrals"] = np.repeat(den, RATES_PER_STRATUM).astype(np.int64)
    # An additive correction (the primary's) can push a tiny cell past a bound; a
    # rate is a share of referrals, so counts stay within [0, denominator].
    df["numerator"] = df.numerator.clip(lower=0.0).where(
        df.numerator <= df.denominator, df.denominator)
    df["estimate"] = np.where(df.denominator > 0, df.numerator / df.denominator.where(
        df.denominator > 0, 1), np.nan)
    return df


@dataclass(frozen=True)
class _Dimension:
    """One stratum dimension over the eligible referrals, prepared once per table: the
    replicate loop then aggregates with one ``bincount`` per dimension. Gives exactly
    ``aggregate``'s sums (same additions in the same order), at national scale several
    times faster: the mask, the denominators and the bin index are not rebuilt for every
    replicate and stage."""

    name: str
    labels: list[str]
    flat_bins: np.ndarray  # stratum * n_stages + stage, row-major over eligible referrals
    den: np.ndarray  # eligible referrals per stratum, last = ALL

    @classmethod
    def of(cls, referrals: pd.DataFrame, name: str, eligible: np.ndarray) -> _Dimension:
        codes, labels = strata_codes(referrals, name)
        den = aggregate(np.ones(len(codes)), codes, len(labels), eligible)[:, 0]
        n_stages = len(STAGE_NAMES)
        flat = (codes[eligible][:, None] * n_stages + np.arange(n_stages)).ravel()
        return cls(name, labels, flat, den)

    def aggregate(self, values: np.ndarray, all_row: np.ndarray | None = None) -> np.ndarray:
        """``aggregate(values_all, codes, n, eligible)`` given ``values_all[eligible]``;
        ``all_row`` is ``values.sum(axis=0)`` when the caller has it (the same for every
        dimension, so a replicate sums it once)."""
        n_strata, n_stages = len(self.labels), values.shape[1]
        out = np.empty((n_strata + 1, n_stages))
        out[:n_strata] = np.bincount(self.flat_bins, weights=values.ravel(),
                                     minlength=n_strata * n_stages).reshape(n_strata, n_stages)
        out[n_strata] = values.sum(axis=0) if all_row is None else all_row
        return out


def _simulate_counts(
    inputs: RateInputs, dims: list[_Dimension], draw: Callable[[], Draw], n_boot: int,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Per dimension, (n_boot, n_strata + 1, 7) simulated rates: each replicate draws a
    ``Draw`` (refit, for the primary) and one imputed outcome per referral from its pi."""
    eligible = inputs.eligible
    out = [np.empty((n_boot, len(dim.labels) + 1, RATES_PER_STRATUM)) for dim in dims]
    for b in range(n_boot):  # replicates, not referrals
        d_b = draw()
        u = rng.random(inputs.n_referrals)  # one per referral, eligible or not: same stream
        # nested: pi non-increasing over stages; only eligible referrals are ever summed
        drawn = (u[eligible, None] < d_b.pi[eligible]).astype(float)
        if d_b.extra is not None:
            drawn += d_b.extra[eligible]
        all_row = drawn.sum(axis=0)
        for d, dim in enumerate(dims):
            counts = dim.aggregate(drawn, all_row)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[d][b, :, :4] = counts / dim.den[:, None]
                out[d][b, :, 4:] = counts[:, 1:] / counts[:, :-1]
    return out


def _percentile(sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of each (stratum, rate) cell, flattened in ``rate_rows`` order."""
    alpha = (1 - CI_LEVEL) / 2
    nan = np.isnan(sims)
    empty = nan.all(axis=0)  # cells with no draws (0 / 0) stay NaN
    # np.quantile over the whole array at once; nanquantile, one cell at a time inside
    # numpy, only for the cells that have some NaN draws (the same values either way)
    lo, hi = np.quantile(sims, [alpha, 1 - alpha], axis=0)
    partial = nan.any(axis=0) & ~empty
    if partial.any():
        lo[partial], hi[partial] = np.nanquantile(sims[:, partial], [alpha, 1 - alpha],
                                                  axis=0)
    lo[empty], hi[empty] = np.nan, np.nan
    return lo.ravel(), hi.ravel()


def _wilson(num: np.ndarray, den: np.ndarray, z: float = 1.959964) -> tuple[np.ndarray, ...]:
    """Wilson score interval for num / den (NaN where den = 0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p = num / den
        centre = (p + z * z / (2 * den)) / (1 + z * z / den)
        half = z * np.sqrt(p * (1 - p) / den + z * z / (4 * den * den)) / (1 + z * z / den)
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


