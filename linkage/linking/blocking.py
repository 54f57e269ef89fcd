"""Blocking rules chosen per input: the model's fixed rules plus broad ones within a budget.

The fixed rules (``model.BLOCKING_RULES``) lean on e-mail, phone, username and agency. An
input without those (a census, FEBRL) loses the true pairs that agree only on DOB or ZIP.
So each of ``model.BROAD_BLOCKING_RULES`` (single keys, which grow quadratically with the
data) is added when the input carries its columns and its pair count, measured exactly on
the staged tables, stays within ``PAIRS_PER_RECORD`` pairs per staged record: on a small
or sparse input the broad rule is cheap and added, at national scale it is left out and
the narrowed fixed rules stand. The rules used are written to ``link_blocking_rules``, so
the blocking recall against truth (``evaluate``) replays exactly what was run.
"""

from __future__ import annotations

import dataclasses
import logging
import re

import duckdb

from linkage.db import build_from_frame
from linkage.linking.model import LinkModel

log = logging.getLogger(__name__)

PAIRS_PER_RECORD = 1.0
"""Budget of a broad rule: at most this many pairs per staged record (both sides)."""

_EQUI = re.compile(r"^l\.(\w+) = r\.(\w+)$")


def equi_join_pairs(con: duckdb.DuckDBPyConnection, rule: str) -> int | None:
    """Exact pair count of an equi-join rule (``l.a = r.a and ...``, case = ``l``) on the
    staged tables, from the key counts of each side; None for any other rule form.

    Example:
        >>> from linkage.db import connect
        >>> equi_join_pairs(connect("study.duckdb"), "l.dob = r.dob")  # doctest: +SKIP
        5712
    """
    parts = [_EQUI.match(p.strip()) for p in rule.split(" and ")]
    if not all(parts) or any(m.group(1) != m.group(2) for m in parts if m):
        return None
    cols = [m.group(1) for m in parts if m]
    keys = ", ".join(cols)
    known = " and ".join(f"{c} is not null" for c in cols)
    return int(con.execute(
        f"""
        with c as (select {keys}, count(*) as n from stg_case_outcomes where {known}
                   group by all),
             r as (select {keys}, count(*) as n from stg_referrals where {known} group by all)
        select coalesce(sum(c.n * r.n), 0)::bigint from c inner join r using ({keys})
        """).fetchall()[0][0])


def choose_blocking(con: duckdb.DuckDBPyConnection, model: LinkModel) -> LinkModel:
    """``model`` with the broad rules this input affords added to its blocking rules, and
    ``link_blocking_rules`` written (one row per rule used, with its pair count if measured).
    """
    n_records = sum(con.execute(f"select count(*) from {t}").fetchall()[0][0]
                    for t in ("stg_referrals", "stg_case_outcomes"))
    budget = PAIRS_PER_RECORD * n_records
    added: list[str] = []
    counts: dict[str, int | None] = {}
    for rule in model.broad_blocking_rules:
        n = equi_join_pairs(con, rule)
        counts[rule] = n
        if n is not None and 0 < n <= budget and rule not in model.blocking_rules:
            added.append(rule)
    if added:
        log.info("broad blocking rules within the budget of %d pairs added: %s",
                 int(budget), "; ".join(added))
    rules = (*model.blocking_rules, *added)
    build_from_frame(con, "intermediate/link_blocking_rules.sql", "link_blocking_rules_input", {
        "rule_order": list(range(1, len(rules) + 1)),
        "blocking_rule": list(rules),
        "broad": [r in added for r in rules],
        "n_pairs_alone": [counts.get(r) for r in rules],
    })
    return dataclasses.replace(model, blocking_rules=rules)
