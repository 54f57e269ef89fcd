"""Threshold sensitivity of the rates: the ``threshold`` estimator rerun at several link
thresholds (GUILD/RECORD ask for sensitivity to the threshold), written as
``conversion_rates_threshold``: same cells and intervals as ``conversion_rates``, one block
per threshold, small cells suppressed. It reuses the estimators' own functions
(``rates.load_inputs``, ``simple.pi_threshold``, ``rates.method_table``,
``disclosure.suppress``); nothing is re-derived here.

Example:
    >>> from linkage.db import connect
    >>> con = connect("study_out/study.duckdb")  # doctest: +SKIP
    >>> threshold_sensitivity(con).df().head()  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd

from linkage.db import build_from_frame, build_table
from linkage.errors import ConfigError
from linkage.estimation import disclosure
from linkage.estimation import rates as rt
from linkage.estimation.intervals import Draw, method_table

log = logging.getLogger(__name__)

RATE_THRESHOLDS: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99)
"""Link thresholds at which the ``threshold`` estimator's rates are recomputed."""


def _follow_up_days(con: duckdb.DuckDBPyConnection) -> int:
    """The window the estimators used (``conversion_rates.follow_up_days``)."""
    rows = con.sql("select distinct follow_up_days from conversion_rates").fetchall()
    if len(rows) != 1:
        raise ConfigError(f"conversion_rates holds {len(rows)} follow-up windows, expected 1")
    return int(rows[0][0])


def threshold_sensitivity(
    con: duckdb.DuckDBPyConnection,
    thresholds: Sequence[float] = RATE_THRESHOLDS,
    *,
    end_date: dt.date | None = None,
    follow_up_days: int | None = None,
    suppress_below: int = disclosure.MIN_NUMERATOR,
    min_denominator: int = disclosure.MIN_DENOMINATOR,
) -> duckdb.DuckDBPyRelation:
    """Rates of the ``threshold`` estimator at each of ``thresholds``.

    Run after :func:`linkage.estimation.run.estimate`, with the same ``end_date`` and
    ``follow_up_days`` (defaults: the latest case-outcome date, as ``estimate`` infers it,
    and the window recorded in ``conversion_rates``), so the denominators are the same.

    Args:
        con: study database after estimation.
        thresholds: match-probability thresholds, each in (0, 1].
        end_date: the study end date the estimators used (None = inferred).
        follow_up_days: the censoring window (None = the one in ``conversion_rates``).
        suppress_below: minimum numerator of a published cell.
        min_denominator: minimum denominator of a published cell.

    Returns:
        The ``conversion_rates_threshold`` table as a DuckDB relation: threshold,
        offense_type, stage, rate_kind, n_referrals, estimate, ci_low, ci_high,
        numerator, denominator, suppressed, suppression.

    Raises:
        ConfigError: a threshold outside (0, 1].

    Example:
        >>> rel = threshold_sensitivity(con, [0.5, 0.9])  # doctest: +SKIP
        >>> rel.filter("offense_type = 'ALL' and stage = 'arrest'").df()  # doctest: +SKIP
    """
    from linkage.estimation.simple import pi_threshold

    bad = [t for t in thresholds if not 0.0 < float(t) <= 1.0]
    if bad or not thresholds:
        raise ConfigError(f"thresholds must be in (0, 1], got {list(thresholds)!r}")
    window = follow_up_days if follow_up_days is not None else _follow_up_days(con)
    censoring = rt.Censoring(end_date or rt.infer_end_date(con), window)
    inputs = rt.load_inputs(con, censoring)
    rng = np.random.default_rng(0)  # unused: the threshold method takes Wilson intervals
    frames, own = [], []
    for t in sorted(set(thresholds)):  # a handful of thresholds, each vectorised
        mask = rt.link_mask(con, t)
        if np.array_equal(mask, inputs.link):
            own.append(float(t))  # the links themselves: published in conversion_rates
            continue
        frames.append(method_table(inputs, "threshold", Draw(pi_threshold(inputs, mask)),
                                      None, 1, rng).assign(threshold=float(t)))
    parts = [] if not frames else [disclosure.suppress(
        pd.concat(frames, ignore_index=True),
        min_numerator=suppress_below,
        min_denominator=min_denominator,
        group_by=("dimension", "stage", "rate_kind", "threshold"),
    )]
    # At the links' own threshold the rows are conversion_rates' threshold method as
    # published, suppression included: recomputed and suppressed apart, they could show
    # a count that table hides.
    parts += [_published_threshold_rows(con).assign(threshold=t) for t in own]
    published = pd.concat(parts, ignore_index=True)
    build_from_frame(con, "intermediate/threshold_cells.sql", "rates_threshold_input", published)
    build_table(con, "marts/conversion_rates_threshold.sql")
    log.info("threshold sensitivity of the rates at %d thresholds", len(frames))
    return con.table("conversion_rates_threshold")


def _published_threshold_rows(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """conversion_rates' rows of the threshold method, as published (offense types)."""
    return con.sql(
        "select 'offense_type' as dimension, offense_type as stratum, stage, rate_kind,"
        " n_referrals, estimate, ci_low, ci_high, numerator, denominator, suppressed,"
        " suppression from conversion_rates where method = 'threshold'").df()
