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
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from linkage.contract import ALL_STRATUM, STAGES
from linkage.db import build_table
from linkage.errors import ConfigError

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
        case_agency: per case index, an integer code of the agency holding the case (the
            cells of the recording probability); None = one agency.
        days: (n_pairs, 4) days from the referral to the case's stage date, not windowed
            (NaN = not reached); None = not loaded (the time-to-event step needs it).
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
    case_agency: np.ndarray | None = None
    days: np.ndarray | None = None

    @property
    def n_referrals(self) -> int:
        return len(self.referrals)

    @property
    def eligible(self) -> np.ndarray:
        return self.referrals["eligible"].to_numpy(dtype=bool)


def infer_end_date(con: duckdb.DuckDBPyConnection) -> dt.date:
    """The extract date proxy: the latest date in the case outcomes (else the referrals).

    Outcomes are observed only up to the case extract, so its latest stage date is the
    censoring date; a referral dated after it (a late referral of a tip, or a referral
    extract taken later) says nothing about how long outcomes were followed, and taking it
    would count referrals as fully followed whose outcomes were cut off.

    Example:
        >>> infer_end_date(con)  # doctest: +SKIP
        datetime.date(2025, 12, 31)
    """
    row = con.sql(
        "select greatest(max(opened_at), max(arrested_at), max(charged_at), max(convicted_at))"
        " from raw_case_outcomes"
    ).fetchall()[0][0]
    if row is not None:
        return row
    ref = con.sql("select max(cast(referred_at as date)) from raw_referrals").fetchall()[0][0]
    if ref is None:
        raise ConfigError("cannot infer the study end date: no dates in the data (give the "
                          "end date)")
    return ref


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
        days=pairs[[f"days_to_{s}" for s in STAGE_NAMES]].to_numpy(dtype=float,
                                                                   na_value=np.nan),
        case_agency=_case_codes(pairs["case_idx"].to_numpy(dtype=np.int64),
                                pairs["case_agency_id"]),
    )


def _case_codes(pair_case: np.ndarray, values: pd.Series) -> np.ndarray:
    """One integer code per case index from a per-pair column of the case."""
    codes, _ = pd.factorize(values.astype(str), sort=True)
    out = np.zeros(int(pair_case.max(initial=-1)) + 1, dtype=np.int64)
    out[pair_case] = codes
    return out


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


RATES_PER_STRATUM = 2 * len(STAGE_NAMES) - 1
"""Rows ``rate_rows`` gives per stratum: 4 cumulative + 3 conditional."""
