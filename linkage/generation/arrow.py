"""numpy draws into DuckDB tables: Arrow views, and the one-row-per-draw check."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from linkage.db import build_table, row_count


def put(con: duckdb.DuckDBPyConnection, name: str, cols: dict, nulls: dict | None = None) -> None:
    """Expose numpy columns to DuckDB as an Arrow view (masked entries become NULL)."""
    nulls = nulls or {}
    con.register(name, pa.table({k: pa.array(v, mask=nulls.get(k)) for k, v in cols.items()}))


def build_from(con: duckdb.DuckDBPyConnection, view: str, cols: dict, nulls: dict | None,
               sql: str) -> None:
    """Build the table of ``sql`` from draws ``cols`` exposed as ``view``; every draw must
    become exactly one row (a lookup join that drops rows is a generator bug)."""
    put(con, view, cols, nulls)
    table = build_table(con, sql)
    con.unregister(view)
    n_in, n_out = len(next(iter(cols.values()))), row_count(con, table)
    if n_in != n_out:
        raise RuntimeError(f"generator bug: {sql} turned {n_in} draws into {n_out} rows")
