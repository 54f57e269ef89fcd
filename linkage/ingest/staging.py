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

from linkage.contract import PSEUDO_KEY_CHECK, PSEUDO_MARKER, PSEUDO_SCHEME
from linkage.db import build_table, quote_ident, table_exists
from linkage.errors import LinkModelError
from linkage.resources import package_data

CLEAR_FILES: tuple[str, ...] = (
    "staging/stg_nicknames.sql",
    "staging/stg_referrals.sql",
    "staging/stg_case_outcomes.sql",
)
PSEUDONYMISED_FILES: tuple[str, ...] = (
    "staging_pseudonymised/stg_referrals.sql",
    "staging_pseudonymised/stg_case_outcomes.sql",
)


def build_staging(con: duckdb.DuckDBPyConnection, *, pseudonymised: bool = False) -> None:
    """Build ``stg_referrals`` and ``stg_case_outcomes`` (and ``stg_nicknames`` for clear
    input) from ``raw_referrals`` and ``raw_case_outcomes``.

    Example:
        >>> from linkage.db import connect
        >>> con = connect()
        >>> build_staging(con)  # doctest: +SKIP
    """
    params = {"nicknames_path": str(package_data("nicknames.csv"))}
    for relpath in PSEUDONYMISED_FILES if pseudonymised else CLEAR_FILES:
        build_table(con, relpath, params)


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
