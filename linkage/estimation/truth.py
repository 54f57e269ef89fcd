"""Synthetic data only: the realised true rates under the estimators' own censoring.

``rates_truth`` holds each referral's true stages (from ``truth_referrals``' uncensored
dates) under the same rule as the estimators; ``truth_cells`` aggregates them per offense
type and ``ALL`` (what the methodology simulation scores against); ``conversion_rates_truth``
is the same, suppressed wherever the primary estimate is (what the report shows). No
estimator reads any of them.

Example:
    >>> truth_comparison(con, follow_up_days=365)  # doctest: +SKIP
    ('rates_truth', 'truth_cells', 'conversion_rates_truth')
"""

from __future__ import annotations

import duckdb

from linkage.db import build_table, table_exists


def truth_comparison(con: duckdb.DuckDBPyConnection, follow_up_days: int, *,
                     publish: bool = True) -> tuple[str, ...]:
    """Build the truth tables after estimation; return their names (none without truth).

    Needs ``truth_referrals`` and the estimators' ``rates_referrals`` (and, with
    ``publish``, ``conversion_rates`` for the suppression).
    """
    if not table_exists(con, "truth_referrals"):
        return ()
    built = (build_table(con, "intermediate/rates_truth.sql",
                         {"follow_up_days": int(follow_up_days)}),
             build_table(con, "intermediate/truth_cells.sql"))
    if publish:
        built += (build_table(con, "marts/conversion_rates_truth.sql"),)
    if table_exists(con, "conversion_rates_horizons"):
        built += (build_table(con, "intermediate/truth_horizons.sql"),)
    return built


def horizon_scores(con: duckdb.DuckDBPyConnection):
    """The primary's time-to-event rates beside the truth at each horizon (a frame)."""
    return con.sql(
        "select h.offense_type, h.stage, h.horizon_days, h.is_longest, h.n_referrals,"
        " h.n_followed, h.estimate, h.ci_low, h.ci_high, h.process_ci_low, h.process_ci_high,"
        " t.truth from conversion_rates_horizons as h left join truth_horizons"
        " as t using (offense_type, stage, horizon_days)").df()
