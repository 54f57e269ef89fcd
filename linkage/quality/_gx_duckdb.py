"""Workaround so great-expectations 1.24 can run its SQL metrics on DuckDB.

Upstream bug: fivetran/great_expectations#10738 and #11579 (still present in 1.24.1; a
native DuckDB engine is proposed in #12084). GX runs each metric query inside
``with engine.connect()`` and fetches the rows only after that connection is closed.
psycopg2 and sqlite buffer rows on the client; DuckDB does not, so GX reads ``[]`` and every
metric fails with ``IndexError``. GX already keeps one persistent connection for sqlite,
SQL Server, BigQuery and Databricks; :func:`enable` does the same for the ``duckdb`` dialect
and rolls back after a failed query: a runtime error (a bad cast in an
``UnexpectedRowsExpectation``, say) otherwise leaves DuckDB in "Current transaction is
aborted", and the following queries report that instead of the real error.

A second problem follows from the first: the engine's pool for a ``duckdb:///:memory:``
URL is a ``SingletonThreadPool``, so GX's schema inspector (column types; one short
connection per reflection call, each rolled back when returned) checks out the *same*
DuckDB connection that the persistent connection holds. If that one has a transaction
open, the inspector's BEGIN fails ("cannot start a transaction within a transaction") and
every expectation that needs column types errors; it happens whenever a query ran before
the reflection (for instance a failing ``UnexpectedRowsExpectation``). :func:`enable`
therefore ends the persistent connection's (read-only) transaction before handing out the
inspector. Binding the inspector to the persistent connection instead does not work: the
Postgres-style primary-key reflection fails on DuckDB (no ``REGCLASS``), GX swallows that
error, and the aborted transaction then breaks the column reflection that follows.

This touches private GX API (``SqlAlchemyExecutionEngine.get_connection`` and
``get_inspector``): GX is pinned to 1.24.x and ``tests/test_gx_duckdb.py`` shows the bugs
and the fixes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_PATCH_FLAG = "_linkage_duckdb_patch"


def enable() -> None:
    """Patch GX's SQLAlchemy execution engine for DuckDB (idempotent; other dialects unchanged).

    Example:
        >>> enable()  # doctest: +SKIP
    """
    from great_expectations.execution_engine import SqlAlchemyExecutionEngine

    original = SqlAlchemyExecutionEngine.get_connection
    if getattr(original, _PATCH_FLAG, False):
        return

    @contextmanager
    def get_connection(self: Any) -> Iterator[Any]:
        if self.dialect_name != "duckdb":
            with original(self) as connection:
                yield connection
            return
        if self._connection is None or self._connection.closed:
            self._connection = self.engine.connect()
        try:
            yield self._connection
        except Exception:
            self._connection.rollback()
            raise

    original_inspector = SqlAlchemyExecutionEngine.get_inspector

    def get_inspector(self: Any) -> Any:
        if self.dialect_name == "duckdb" and self._connection is not None:
            if not self._connection.closed and self._connection.in_transaction():
                self._connection.rollback()  # only reads ran: nothing is lost
        return original_inspector(self)

    for patched, unpatched in ((get_connection, original), (get_inspector, original_inspector)):
        setattr(patched, _PATCH_FLAG, True)
        patched.__wrapped__ = unpatched  # type: ignore[attr-defined]  # lets tests undo it
    SqlAlchemyExecutionEngine.get_connection = get_connection  # type: ignore[method-assign]
    SqlAlchemyExecutionEngine.get_inspector = get_inspector  # type: ignore[method-assign]


def close(datasource: Any) -> None:
    """Close the persistent connection and dispose both engines of a GX SQL datasource.

    ``engine.close()`` alone leaves the persistent connection (and a DuckDB cursor) open.
    """
    engine = datasource._execution_engine
    if engine is not None:
        if engine._connection is not None:
            engine._connection.close()
            engine._connection = None
        engine.engine.dispose()
    if datasource._engine is not None:
        datasource._engine.dispose()
