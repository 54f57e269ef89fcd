"""The report's time-to-event section and headline figures: the primary's cumulative rates
at each horizon (``conversion_rates_horizons``), ALL by horizon and every offense type at
the longest well-supported horizon, with the interval for these referrals. Aggregates only.

Example:
    >>> from linkage.db import connect
    >>> con = connect("study_out/study.duckdb", read_only=True)  # doctest: +SKIP
    >>> horizons_section(con).title  # doctest: +SKIP
    'Time to event'
"""

from __future__ import annotations

import duckdb

from linkage.contract import ALL_STRATUM, STAGES
from linkage.db import table_exists
from linkage.reporting.format import MISSING, Paragraph, Section, Table, count, rate_ci

STAGE_NAMES = tuple(name for name, _ in STAGES)
_COLS = ("offense_type, stage, horizon_days, is_longest, n_referrals, n_followed, estimate,"
         " ci_low, ci_high, suppressed")


def _rows(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    if not table_exists(con, "conversion_rates_horizons"):
        return []
    return con.sql(f"select {_COLS} from conversion_rates_horizons").fetchall()


def longest_horizon(con: duckdb.DuckDBPyConnection) -> int | None:
    """The longest horizon the data supports (None before estimation).

    Example:
        >>> longest_horizon(con)  # doctest: +SKIP
        633
    """
    days = {r[2] for r in _rows(con) if r[3]}
    return int(max(days)) if days else None


def headline_items(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """The summary's eventual rates: ALL at the longest horizon, per headline stage."""
    longest = longest_horizon(con)
    cells = {r[1]: r for r in _rows(con) if r[0] == ALL_STRATUM and r[2] == longest}
    return [(f"{stage} within {longest} days (time to event)",
             rate_ci(*cells[stage][6:9], suppressed=bool(cells[stage][9])))
            for stage in ("investigation", "arrest", "conviction") if stage in cells]


def horizons_section(con: duckdb.DuckDBPyConnection) -> Section:
    """Rates by horizon for all offense types, and per offense type at the longest horizon.

    Example:
        >>> [b.kind for b in horizons_section(con).blocks]  # doctest: +SKIP
        ['paragraph', 'table', 'table']
    """
    sec = Section("horizons", "Time to event")
    rows = _rows(con)
    if not rows:
        sec.blocks.append(Paragraph("No time-to-event rates: the estimation stage did not run."))
        return sec
    longest = longest_horizon(con)
    cell = {(r[0], r[1], r[2]): rate_ci(*r[6:9], suppressed=bool(r[9])) for r in rows}
    followed = {(r[0], r[2]): r[5] for r in rows}
    n_all = {r[0]: r[4] for r in rows}
    horizons = sorted({r[2] for r in rows})
    sec.blocks += [
        Paragraph(
            "Share of every referral whose case reached each stage within the given number "
            "of days of the referral, in percent, with its 95% interval for these referrals. "
            "A weighted Kaplan-Meier estimate over the audit-calibrated link probabilities "
            "(a clerical review corrects the fixed-window table only): each referral is "
            "followed until the study's "
            "end date, so referrals followed for less than a horizon still count up to "
            "their end. The missed-link correction is carried from the fixed window to "
            "every horizon, assuming the links the model misses convert on the same "
            f"schedule as those it finds. {longest} days is the longest horizon that at "
            "least a quarter of referrals are followed for; past it the estimate would "
            "rest on a few early referrals."),
        Table(["days", "referrals followed that long",
               *STAGE_NAMES], [[str(h) + (" (longest)" if h == longest else ""),
                                count(followed.get((ALL_STRATUM, h))),
                                *(cell.get((ALL_STRATUM, s, h), MISSING) for s in STAGE_NAMES)]
                               for h in horizons],
              "All offense types, by horizon"),
        Table(["offense type", "referrals", *STAGE_NAMES],
              [[o, count(n_all[o]), *(cell.get((o, s, longest), MISSING) for s in STAGE_NAMES)]
               for o in [ALL_STRATUM, *sorted(k for k in n_all if k != ALL_STRATUM)]],
              f"Each offense type within {longest} days"),
    ]
    return sec
