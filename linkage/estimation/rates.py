"""Rates as explicit objects: stage definitions, the censoring rule, strata, aggregation.

A rate is a numerator over a denominator within a stratum (``Rate``). Stages are the
contract's (investigation < arrest < charge < conviction). Two kinds of rate:

* ``cumulative``: share of referrals whose case reached the stage;
* ``conditional``: share of the referrals reaching the previous stage that reached this one
  (arrest | investigation, charge | arrest, conviction | charge).

**Censoring rule (fixed follow-up window).** A stage counts only if reached within
``follow_up_days`` of the referral date, and only referrals referred at least
``follow_up_days`` before the study's end date are in any denominator, so every counted
referral was followed up for the full window and no stage is hidden by the end date. The
default window is 365 days: every referral of a one-year study window then has full
follow-up to an extract one year after the window. The truth the simulation compares with
applies the same rule (:mod:`linkage.simulate`).

Heavy lifting is SQL (``sql/intermediate/rates_referrals.sql``, ``rates_pairs.sql``); the
estimators work on the numpy arrays ``load_inputs`` returns and aggregate with
``aggregate`` (vectorised ``bincount``).
"""

from __future__ import annotations

import datetime as dt
import logging
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from linkage.contract import ALL_STRATUM, STAGES
from linkage.db import build_table

log = logging.getLogger(__name__)

STAGE_NAMES: tuple[str, ...] = tuple(name for name, _ in STAGES)
"""Ordered stages: investigation, arrest, charge, conviction."""
CONDITIONAL: tuple[tuple[str, str], ...] = tuple(
    zip(STAGE_NAMES[1:], STAGE_NAMES[:-1], strict=True)
)
"""(stage, given stage) for each stage-conditional rate."""
DEFAULT_FOLLOW_UP_DAYS = 365
STRATA: tuple[str, ...] = (
    "offense_type",
    "reporter_type",
    "reporter_name",
    "completeness",
    "urgency",
)
"""Dimensions of the published rates; ``offense_type`` is the contract table's."""
SAME_PERSON_FLOOR = 0.5
"""Identity probability above which an audit case's other candidate is taken as its subject."""
IDENTIFIERS: tuple[str, ...] = ("name", "dob", "email", "phone", "username", "ip")
"""Referral identifiers whose presence describes a referral's completeness pattern."""


@dataclass(frozen=True)
class Rate:
    """One rate: numerator over denominator for a stratum, stage and kind.

    Attributes:
        dimension: stratum dimension (``offense_type``, ``urgency``, ...).
        stratum: stratum value, or ``ALL``.
        stage: the stage reached.
        kind: ``cumulative`` (of all referrals) or ``conditional`` (of the previous stage).
        numerator: (expected) count reaching the stage.
        denominator: referrals (cumulative) or (expected) count at the previous stage.

    Example:
        >>> Rate("offense_type", "ALL", "arrest", "cumulative", 5.0, 100.0).estimate
        0.05
    """

    dimension: str
    stratum: str
    stage: str
    kind: str
    numerator: float
    denominator: float

    @property
    def estimate(self) -> float | None:
        """numerator / denominator, or None when the denominator is zero."""
        return self.numerator / self.denominator if self.denominator > 0 else None


@dataclass(frozen=True)
class Censoring:
    """The censoring rule: a fixed follow-up window from the referral date.

    Example:
        >>> c = Censoring(dt.date(2025, 12, 31), 365)
        >>> c.last_referral_date
        datetime.date(2024, 12, 31)
    """

    end_date: dt.date
    follow_up_days: int = DEFAULT_FOLLOW_UP_DAYS

    @property
    def last_referral_date(self) -> dt.date:
        """Latest referral date with full follow-up."""
        return self.end_date - dt.timedelta(days=self.follow_up_days)

    def describe(self) -> str:
        """One line for output tables and reports."""
        return (
            f"stage reached within {self.follow_up_days} days of referral; referrals "
            f"referred on or before {self.last_referral_date} (full follow-up to "
            f"{self.end_date})"
        )

    def params(self) -> dict[str, object]:
        """SQL parameters of the rule."""
        return {"follow_up_days": int(self.follow_up_days), "end_date": self.end_date,
                "same_person_floor": SAME_PERSON_FLOOR}


@dataclass(frozen=True)
class RateInputs:
    """Arrays the estimators use (referrals and pairs), built by ``load_inputs``.

    Attributes:
        referrals: one row per referral (``rates_referrals``), ordered by ``ref_idx``.
        pair_ref: referral index of each pair; ``pair_case``: case index.
        prob: Splink match probability (NaN for unscored pairs); ``weight``: match weight;
            ``identity``: Splink's P(same person) (0 for unscored pairs).
        scored, link, audit_pair, audit_case, audit_sibling, sibling: pair flags (see
            ``rates_pairs.sql``).
        stages: (n_pairs, 4) bool, stage reached within the window.
    """

    referrals: pd.DataFrame
    pair_ref: np.ndarray
    pair_case: np.ndarray
    prob: np.ndarray
    weight: np.ndarray
    identity: np.ndarray
    scored: np.ndarray
    link: np.ndarray
    audit_pair: np.ndarray
    audit_case: np.ndarray
    audit_sibling: np.ndarray
    sibling: np.ndarray
    stages: np.ndarray

    @property
    def n_referrals(self) -> int:
        return len(self.referrals)

    @property
    def eligible(self) -> np.ndarray:
        return self.referrals["eligible"].to_numpy(dtype=bool)


def infer_end_date(con: duckdb.DuckDBPyConnection) -> dt.date:
    """The latest date observed in the case outcomes and referrals (the extract date proxy).

    Example:
        >>> infer_end_date(con)  # doctest: +SKIP
        datetime.date(2025, 12, 31)
    """
    row = con.sql(
        "select greatest(max(opened_at), max(arrested_at), max(charged_at), max(convicted_at))"
        " from raw_case_outcomes"
    ).fetchall()[0][0]
    ref = con.sql("select max(cast(referred_at as date)) from raw_referrals").fetchall()[0][0]
    candidates = [d for d in (row, ref) if d is not None]
    if not candidates:
        raise ValueError("cannot infer the study end date: no dates in the data")
    return max(candidates)


def load_inputs(con: duckdb.DuckDBPyConnection, censoring: Censoring) -> RateInputs:
    """Build ``rates_referrals`` and ``rates_pairs`` and return them as arrays.

    Needs ``raw_referrals``, ``raw_tips``, ``raw_case_outcomes``, ``scored_pairs``, ``links``.

    Example:
        >>> inputs = load_inputs(con, Censoring(dt.date(2025, 12, 31)))  # doctest: +SKIP
    """
    params = censoring.params()
    build_table(con, "intermediate/rates_referrals.sql", params)
    build_table(con, "intermediate/rates_pairs.sql", params)
    refs = con.sql("select * from rates_referrals order by ref_idx").df()
    _cache_codes_of(refs)
    pairs = con.sql("select * from rates_pairs order by ref_idx, case_idx").df()
    stage_cols = [f"reached_{s}" for s in STAGE_NAMES]
    log.info("rate inputs: %d referrals, %d pairs", len(refs), len(pairs))
    return RateInputs(
        referrals=refs,
        pair_ref=pairs["ref_idx"].to_numpy(dtype=np.int64),
        pair_case=pairs["case_idx"].to_numpy(dtype=np.int64),
        prob=pairs["match_probability"].to_numpy(dtype=float, na_value=np.nan),
        weight=pairs["match_weight"].to_numpy(dtype=float, na_value=np.nan),
        identity=pairs["identity_probability"].to_numpy(dtype=float, na_value=0.0),
        scored=pairs["is_scored"].to_numpy(dtype=bool),
        link=pairs["is_link"].to_numpy(dtype=bool),
        audit_pair=pairs["is_audit_pair"].to_numpy(dtype=bool),
        audit_case=pairs["is_audit_case"].to_numpy(dtype=bool),
        audit_sibling=pairs["is_audit_sibling"].to_numpy(dtype=bool),
        sibling=pairs["is_sibling"].to_numpy(dtype=bool),
        stages=pairs[stage_cols].to_numpy(dtype=bool),
    )


def link_mask(con: duckdb.DuckDBPyConnection, threshold: float | None = None) -> np.ndarray:
    """Which pairs of ``rates_pairs`` (in its order) are links: the ``links`` table, or
    with ``threshold`` the links the same rule (``sql/marts/links.sql``) gives there.

    Example:
        >>> link_mask(con, 0.9).sum()  # doctest: +SKIP
        15120
    """
    from linkage.db import query_file

    links = "links" if threshold is None else "chosen_links"
    if threshold is not None:
        con.register("chosen_links", query_file(con, "marts/links.sql",
                                                 {"threshold": float(threshold)}).to_arrow_table())
    try:
        rows = con.sql(
            f"select l.referral_id is not null from rates_pairs as p left join {links} as l"
            " using (referral_id, case_id) order by p.ref_idx, p.case_id").fetchnumpy()
    finally:
        if threshold is not None:
            con.unregister("chosen_links")
    return next(iter(rows.values())).astype(bool)


def strata_codes(referrals: pd.DataFrame, dimension: str) -> tuple[np.ndarray, list[str]]:
    """Integer code of each referral's stratum in ``dimension`` and the stratum labels.

    For the referrals frame of a ``RateInputs`` (built by ``load_inputs``, read-only by
    convention) the result is computed once per dimension and the codes are returned as a
    read-only array: the estimators ask for the same codes in every bootstrap replicate,
    which at national scale cost more than the replicate's arithmetic.

    Example:
        >>> strata_codes(pd.DataFrame({"urgency": ["urgent", "not urgent"]}), "urgency")
        (array([1, 0]), ['not urgent', 'urgent'])
    """
    entry = _CODES_CACHE.get(id(referrals))
    if entry is not None and entry[0]() is referrals and dimension in entry[1]:
        codes, labels = entry[1][dimension]
        return codes, list(labels)
    codes, labels = pd.factorize(referrals[dimension].astype(str), sort=True)
    result = codes.astype(np.int64), [str(x) for x in labels]
    if entry is not None and entry[0]() is referrals:
        result[0].setflags(write=False)
        entry[1][dimension] = (result[0], tuple(result[1]))
    return result


# id(referrals frame) -> (weak reference to it, {dimension: (codes, labels)}); only frames
# built by load_inputs are entered, and an entry goes when its frame is collected.
_CODES_CACHE: dict[int, tuple[weakref.ref, dict[str, tuple[np.ndarray, tuple[str, ...]]]]] = {}


def _cache_codes_of(referrals: pd.DataFrame) -> None:
    key = id(referrals)
    _CODES_CACHE[key] = (weakref.ref(referrals, lambda _: _CODES_CACHE.pop(key, None)), {})


def aggregate(
    values: np.ndarray, codes: np.ndarray, n_strata: int, mask: np.ndarray
) -> np.ndarray:
    """Sum per-referral ``values`` (n, k) within strata over ``mask``; last row = ALL.

    Example:
        >>> aggregate(np.array([[1.0], [0.0], [1.0]]), np.array([0, 1, 1]), 2,
        ...           np.array([True, True, False])).ravel().tolist()
        [1.0, 0.0, 1.0]
    """
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    out = np.zeros((n_strata + 1, values.shape[1]))
    for k in range(values.shape[1]):  # over stages (a handful), never over referrals
        out[:n_strata, k] = np.bincount(codes[mask], weights=values[mask, k], minlength=n_strata)
    out[n_strata] = values[mask].sum(axis=0)
    return out


def rate_rows(
    counts: np.ndarray, denominators: np.ndarray, dimension: str, labels: list[str]
) -> list[Rate]:
    """Cumulative and conditional ``Rate`` objects from stage counts per stratum.

    Args:
        counts: (n_strata + 1, 4) expected counts reaching each stage (last row = ALL).
        denominators: (n_strata + 1,) referrals per stratum.
        dimension: the stratum dimension.
        labels: stratum labels (``ALL`` is appended).

    Example:
        >>> rows = rate_rows(np.array([[10.0, 5.0, 4.0, 2.0]]), np.array([100.0]), "x", [])
        >>> [round(float(r.estimate), 2) for r in rows]
        [0.1, 0.05, 0.04, 0.02, 0.5, 0.8, 0.5]
    """
    names = [*labels, ALL_STRATUM]
    rows: list[Rate] = []
    for i, stratum in enumerate(names):
        for k, stage in enumerate(STAGE_NAMES):
            rows.append(
                Rate(dimension, stratum, stage, "cumulative", counts[i, k], denominators[i])
            )
        for k in range(1, len(STAGE_NAMES)):
            rows.append(
                Rate(dimension, stratum, STAGE_NAMES[k], "conditional",
                     counts[i, k], counts[i, k - 1])
            )
    return rows


# --- intervals and the per-method table ---------------------------------------------------

CI_LEVEL = 0.95
RATES_PER_STRATUM = 2 * len(STAGE_NAMES) - 1  # 4 cumulative + 3 conditional


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
    """Rates of one method for each of ``dimensions``, with intervals (percentiles of
    ``draw`` replicates, or Wilson intervals when the method has no draws).

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
        counts = dim.aggregate(total)
        rows = rate_rows(counts, dim.den, dim.name, dim.labels)
        df = pd.DataFrame([r.__dict__ for r in rows]).rename(columns={"kind": "rate_kind"})
        df["n_referrals"] = np.repeat(dim.den, RATES_PER_STRATUM).astype(np.int64)
        # An additive correction (the primary's) can push a tiny cell past a bound; a
        # rate is a share of referrals, so counts stay within [0, denominator].
        df["numerator"] = df.numerator.clip(lower=0.0).where(
            df.numerator <= df.denominator, df.denominator)
        df["estimate"] = np.where(df.denominator > 0, df.numerator / df.denominator.where(
            df.denominator > 0, 1), np.nan)
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
    empty = np.isnan(sims).all(axis=0)  # cells with no draws (0 / 0) stay NaN
    filled = np.where(empty[None], 0.0, sims)
    lo = np.nanquantile(filled, alpha, axis=0)
    hi = np.nanquantile(filled, 1 - alpha, axis=0)
    lo[empty], hi[empty] = np.nan, np.nan
    return lo.ravel(), hi.ravel()


def _wilson(num: np.ndarray, den: np.ndarray, z: float = 1.959964) -> tuple[np.ndarray, ...]:
    """Wilson score interval for num / den (NaN where den = 0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p = num / den
        centre = (p + z * z / (2 * den)) / (1 + z * z / den)
        half = z * np.sqrt(p * (1 - p) / den + z * z / (4 * den * den)) / (1 + z * z / den)
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


