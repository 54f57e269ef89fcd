"""The generator's truth tables (synthetic data only): ``truth_links``, ``truth_referrals``.

Never read by an estimator; linkage evaluation and the methodology simulation score
against them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from linkage.contract import TRUTH_LINKS_COLUMNS
from linkage.db import quote_ident
from linkage.ingest.sources import AMBIGUOUS, find, reason, violation

log = logging.getLogger(__name__)

TRUTH_TABLES = ("truth_links", "truth_referrals")
_ID_COLUMNS = ("referral_id", "case_id", "tip_id")


def load_truth(truth_dir: str | Path, con: duckdb.DuckDBPyConnection) -> list[str]:
    """Load ``truth_links`` / ``truth_referrals`` (``.csv`` or ``.parquet``) where present.

    Types are as in the file (sniffed for CSV) except id columns, kept as text so that
    ``'007'`` stays ``'007'`` and joins the raw tables. Synthetic data only.

    Example:
        >>> load_truth("data/study/truth", con)  # doctest: +SKIP
        ['truth_links']
    """
    folder, loaded = Path(truth_dir), []
    con.execute("begin")
    try:
        for name in TRUTH_TABLES:
            found = find(folder, name)
            if len(found) > 1:
                raise violation(name, "ambiguous", AMBIGUOUS, file=str(found[0]))
            if not found:
                continue
            params, file = {"path": str(found[0])}, str(found[0])
            read = "read_parquet($path)" if file.endswith(".parquet") else "read_csv($path)"
            try:
                cols = [r[0] for r in con.execute(f"describe from {read}", params).fetchall()]
                ids = ", ".join(f"'{c}': 'VARCHAR'" for c in _ID_COLUMNS if c in cols)
                if ids and file.endswith(".csv"):
                    read = f"read_csv($path, header=true, types={{{ids}}})"
                sql = f"create or replace table {quote_ident(name)} as select * from {read}"
                con.execute(sql, params)
            except duckdb.Error as exc:
                msg = f"cannot read: {reason(exc)}"
                raise violation(name, "unreadable file", msg, file=file) from exc
            missing = [c for c in TRUTH_LINKS_COLUMNS if c not in cols]
            if name == "truth_links" and missing:
                msg = f"missing required column(s): {', '.join(missing)}"
                raise violation(name, "missing required column", msg, missing[0], file)
            loaded.append(name)
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")
    log.info("loaded truth tables: %s", ", ".join(loaded) or "none")
    return loaded
