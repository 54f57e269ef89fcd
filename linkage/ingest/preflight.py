"""Before linking: what the loaded identifiers allow, and a refusal when they allow nothing.

Linkage compares the subject identifiers both sides carry (names, date of birth, e-mail,
phone, username, place). The preflight counts, from the ``raw_*`` tables, how many
referrals and case records hold each one, names those that cannot be compared (empty on a
side) and stops, with a contract error, when no identifier is held on both sides: Splink
would otherwise fail deep inside its training with a message about m-probabilities.

Example:
    >>> from linkage.db import connect
    >>> con = connect()
    >>> _ = con.execute("create table raw_referrals as select 'a@x.org' as email")
    >>> _ = con.execute("create table raw_case_outcomes as select 'a@x.org' as email")
    >>> print(link_preflight(con).line())
    identifiers compared (share of referrals/case records holding one): email 100%/100%
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import duckdb

from linkage.db import quote_ident, table_exists
from linkage.errors import ConfigError
from linkage.ingest.mapping import IDENTIFIERS
from linkage.ingest.sources import raise_all, violation

log = logging.getLogger(__name__)

_SIDES = (("referrals", "raw_referrals"), ("case_outcomes", "raw_case_outcomes"))
_PSEUDO_DOB = "pseudo_dob"  # pseudonymised input: dob is NULL, its tokens are pseudo_dob*


@dataclass(frozen=True)
class Preflight:
    """Rows holding each identifier per side (counts only) and the table sizes."""

    n_referrals: int
    n_cases: int
    filled: dict[str, tuple[int, int]]

    @property
    def compared(self) -> tuple[str, ...]:
        """Identifiers held on both sides (in contract order)."""
        return tuple(c for c, (r, k) in self.filled.items() if r and k)

    def line(self) -> str:
        """One line for a terminal: what is compared, and what cannot be."""
        def pct(n: int, total: int) -> str:
            return f"{100 * n / total:.0f}%" if total else "0%"

        parts = [f"{c} {pct(r, self.n_referrals)}/{pct(k, self.n_cases)}"
                 for c, (r, k) in self.filled.items() if c in self.compared]
        text = ("identifiers compared (share of referrals/case records holding one): "
                + (", ".join(parts) or "none"))
        missing = [f"{c} (empty in {'referrals' if not r else 'case records'})"
                   for c, (r, k) in self.filled.items() if (r or k) and c not in self.compared]
        return text + ("; not comparable: " + ", ".join(missing) if missing else "")


def _filled(con: duckdb.DuckDBPyConnection, table: str) -> tuple[int, dict[str, int]]:
    cols = {r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = 'main'"
        " and table_name = $t", {"t": table}).fetchall()}
    present = [c for c in IDENTIFIERS if c in cols]
    pseudo_dob = sorted(c for c in cols if c.startswith(_PSEUDO_DOB))
    sums = [f"count({quote_ident(c)})" for c in present]
    if pseudo_dob:
        dob = " or ".join(f"{quote_ident(c)} is not null" for c in pseudo_dob)
        sums.append(f"count(*) filter (where {dob})")
    row = con.execute(f"select {', '.join(['count(*)', *sums])} "
                      f"from main.{quote_ident(table)}").fetchall()[0]
    counts = dict(zip(present, row[1:], strict=False))
    if pseudo_dob:
        counts["dob"] = max(counts.get("dob", 0), row[-1])
    return row[0], counts


def link_preflight(con: duckdb.DuckDBPyConnection) -> Preflight:
    """Count the identifiers linkage can compare; refuse input that has none to compare.

    Raises:
        ConfigError: the database has no ``raw_referrals`` or ``raw_case_outcomes``.
        ContractError: a side holds no identifier value at all, or no identifier is held on
            both sides (exit code 4; names what the data lack).
    """
    missing = [t for _, t in _SIDES if not table_exists(con, t)]
    if missing:
        raise ConfigError(f"the study database has no {', '.join(missing)}: load the input "
                          "first (`linkage load --input DIR --db FILE`)")
    (n_ref, ref), (n_case, case) = (_filled(con, table) for _, table in _SIDES)
    filled = {c: (ref.get(c, 0), case.get(c, 0)) for c in IDENTIFIERS}
    found = Preflight(n_ref, n_case, filled)
    problems = []
    for (name, _), counts in zip(_SIDES, (ref, case), strict=True):
        if not any(counts.values()):
            msg = (f"every identifier column ({', '.join(IDENTIFIERS)}) is empty or absent: "
                   "there is nothing to link on")
            problems.append(violation(name, "no identifiers", msg))
    if not problems and not found.compared:
        held = {side: [c for c, n in counts.items() if n] for side, counts in
                (("referrals", ref), ("case records", case))}
        msg = ("no identifier is held on both sides, so no case can match a referral "
               f"(referrals hold {', '.join(held['referrals'])}; case records hold "
               f"{', '.join(held['case records'])}); map a shared column with --mapping")
        problems.append(violation("referrals", "nothing to compare", msg))
    if problems:
        raise_all(problems)
    for (name, _), counts in zip(_SIDES, (ref, case), strict=True):
        empty = [c for c, n in counts.items() if not n]
        if empty:  # present in the file, no value in any row: an export or mapping slip?
            log.warning("%s: %s present but empty in every row, so not compared (check the "
                        "export or --mapping; drop the column if the extract does not record "
                        "it)", name, ", ".join(empty))
    log.info("%s", found.line())
    return found
