"""Checks across the loaded raw tables (after each table passed its own checks)."""

from __future__ import annotations

import duckdb

from linkage.contract import REFERRALS, TIPS
from linkage.contract import raw_table_name as raw_name
from linkage.db import quote_ident
from linkage.errors import ContractError
from linkage.ingest.sources import violation


def check_links(con: duckdb.DuckDBPyConnection, file: str) -> list[ContractError]:
    """Referrals must point at a tip and not predate it."""
    refs, tips = quote_ident(raw_name(REFERRALS)), quote_ident(raw_name(TIPS))
    orphan, early = con.execute(
        "select count(*) filter (where r.tip_id is not null and t.tip_id is null),"
        " count(*) filter (where r.referred_at < t.received_at)"
        f" from {refs} as r left join (select tip_id, min(received_at) as received_at"
        f" from {tips} group by tip_id) as t on r.tip_id = t.tip_id"
    ).fetchall()[0]
    found = []
    if orphan:
        msg = "tip_id not found in tips"
        found.append(violation("referrals", "orphan tip_id", msg, "tip_id", file, orphan))
    if early:
        msg, rule = "referred_at is before the tip's received_at", "referred before received"
        found.append(violation("referrals", rule, msg, "referred_at", file, early))
    return found
