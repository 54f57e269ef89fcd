"""Staging: both sides standardised for linkage, one SQL file per staged table.

Clear input is cleaned by ``sql/staging/`` (names, phones, e-mails, places, dates; the
cleaning rules are DuckDB macros shared by both sides); pseudonymised input by
``sql/staging_pseudonymised/``, which only renames: its tokens were standardised before
they were tokenised. Both give ``stg_referrals`` and ``stg_case_outcomes`` with one
column set (Splink compares identical columns).
"""

from __future__ import annotations

from typing import Any

import duckdb

from linkage import pipeline
from linkage.contract import PSEUDO_KEY_CHECK, PSEUDO_MARKER, PSEUDO_SCHEME
from linkage.db import build_table, quote_ident, run_macros, table_exists
from linkage.errors import LinkModelError
from linkage.ingest.quarantine import quarantine_stage_dates
from linkage.resources import package_data


def build_staging(con: duckdb.DuckDBPyConnection, *, pseudonymised: bool = False,
                  apply_quarantine: bool = True) -> None:
    """Build ``stg_referrals`` and ``stg_case_outcomes`` (and ``stg_nicknames`` for clear
    input) from ``raw_referrals`` and ``raw_case_outcomes``.

    Quarantined case records (``quarantine_case_outcomes``, built here from the raw table
    when no earlier step built it) are left out unless ``apply_quarantine`` is False.

    Example:
        >>> from linkage.db import connect
        >>> con = connect()
        >>> build_staging(con)  # doctest: +SKIP
    """
    if not table_exists(con, "quarantine_case_outcomes"):
        quarantine_stage_dates(con, tolerance=1.0)
    params = {"nicknames_path": str(package_data("nicknames.csv")),
              "apply_quarantine": apply_quarantine}
    for step in pipeline.STAGING_PSEUDONYMISED if pseudonymised else pipeline.STAGING:
        if step.macros:
            run_macros(con, step.file)
        else:
            build_table(con, step.file, params)


def _markers(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[Any, Any]] | None:
    """Distinct (scheme, key check) of a raw table, or None when it has no marker."""
    if not table_exists(con, table):
        return None
    cols = {r[0] for r in con.execute(
        "select column_name from information_schema.columns"
        " where table_schema = 'main' and table_name = $t", {"t": table}).fetchall()}
    if PSEUDO_MARKER not in cols:
        return None
    check = quote_ident(PSEUDO_KEY_CHECK) if PSEUDO_KEY_CHECK in cols else "null"
    return con.sql(
        f"select distinct {quote_ident(PSEUDO_MARKER)}, {check} from main.{quote_ident(table)}"
    ).fetchall()


def uses_pseudonyms(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether ``raw_referrals`` and ``raw_case_outcomes`` are pseudonymised (one key).

    Raises:
        LinkModelError: only one side is pseudonymised, the scheme is unknown, or the two
            sides (or rows within one) were tokenised with different keys.

    Example:
        >>> from linkage.db import connect
        >>> uses_pseudonyms(connect())
        False
    """
    sides = {t: _markers(con, t) for t in ("raw_referrals", "raw_case_outcomes")}
    if all(v is None for v in sides.values()):
        return False
    if any(v is None for v in sides.values()):
        plain = next(t for t, v in sides.items() if v is None)
        raise LinkModelError(f"{plain} is not pseudonymised but the other side is: "
                             "pseudonymise both with the same key (linkage pseudonymize)")
    found = {row for rows in sides.values() for row in rows}
    schemes = {s for s, _ in found}
    if schemes != {PSEUDO_SCHEME}:
        raise LinkModelError(f"unknown pseudonymisation scheme(s) {sorted(map(str, schemes))};"
                             f" this toolkit reads {PSEUDO_SCHEME}")
    if len({c for _, c in found}) > 1:
        raise LinkModelError("referrals and case outcomes were pseudonymised with different "
                             "keys (pseudo_key_check differs): tokens cannot agree")
    return True
