"""The GX/DuckDB workaround (fivetran/great_expectations#10738, #11579): bugs, fixes, cleanup."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb
import pytest

from linkage.quality import suites as quality
from linkage.quality.suites import _gx_duckdb


@pytest.fixture(scope="module")
def gx() -> Any:
    return quality._gx()  # imports GX and enables the patch


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute(
        "create table t as select i::varchar as id, case when i % 10 = 0 then null else i end"
        " as v from range(1000) r(i)"
    )
    yield con
    con.close()


_BAD_QUERY = "select cast(id || 'x' as int) as n from {batch} where cast(id || 'x' as int) > 0"


def _validate(gx: Any, con: duckdb.DuckDBPyConnection, *suites: list[Any]) -> dict[str, Any]:
    """Validate each list of expectations in turn on one batch (one engine); results by type."""
    ctx = quality._context()
    ds = quality._duckdb_datasource(ctx, "gx_duckdb_test", con)
    try:
        batch = ds.add_table_asset(name="t", table_name="t").add_batch_definition_whole_table("a")
        batch = batch.get_batch()
        results = [
            r
            for i, exps in enumerate(suites)
            for r in batch.validate(
                gx.ExpectationSuite(name=f"s{i}", expectations=exps), result_format="BASIC"
            ).results
        ]
    finally:
        _gx_duckdb.close(ds)
        ctx.data_sources.delete("gx_duckdb_test")
    assert ds._execution_engine._connection is None  # close() released the cursor
    return {r.expectation_config.type: r for r in results}


def test_without_the_patch_every_metric_fails(
    gx: Any, con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from great_expectations.execution_engine import SqlAlchemyExecutionEngine

    original = SqlAlchemyExecutionEngine.get_connection.__wrapped__
    monkeypatch.setattr(SqlAlchemyExecutionEngine, "get_connection", original)
    res = _validate(gx, con, [gx.expectations.ExpectColumnValuesToNotBeNull(column="v")])
    result = res["expect_column_values_to_not_be_null"]
    assert not result.success
    assert "IndexError" in str(result.exception_info) or "list index" in str(result.exception_info)


def test_with_the_patch_counts_are_right_and_errors_roll_back(
    gx: Any, con: duckdb.DuckDBPyConnection
) -> None:
    gxe = gx.expectations
    res = _validate(
        gx,
        con,
        # A runtime error aborts DuckDB's transaction: without the rollback GX reports the
        # misleading "Current transaction is aborted" instead of the real error.
        [gxe.UnexpectedRowsExpectation(unexpected_rows_query=_BAD_QUERY)],
        [
            gxe.ExpectColumnValuesToNotBeNull(column="v"),
            gxe.ExpectColumnValuesToBeUnique(column="id"),
            gxe.ExpectTableRowCountToEqual(value=1000),
        ],
    )
    error = quality._error(res["unexpected_rows_expectation"].exception_info) or ""
    assert "Conversion Error" in error and "aborted" not in error
    assert res["expect_column_values_to_not_be_null"].result["unexpected_count"] == 100
    assert res["expect_column_values_to_be_unique"].success
    assert res["expect_table_row_count_to_equal"].result["observed_value"] == 1000


def test_enable_is_idempotent(gx: Any) -> None:
    from great_expectations.execution_engine import SqlAlchemyExecutionEngine

    patched = SqlAlchemyExecutionEngine.get_connection, SqlAlchemyExecutionEngine.get_inspector
    _gx_duckdb.enable()
    assert (SqlAlchemyExecutionEngine.get_connection,
            SqlAlchemyExecutionEngine.get_inspector) == patched  # fmt: skip


def _reflect_after_a_query(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Run one query on the persistent connection, then reflect the table's columns."""
    import sqlalchemy as sa

    ctx = quality._context()
    ds = quality._duckdb_datasource(ctx, "gx_duckdb_reflect", con)
    try:
        ds.add_table_asset(name="t", table_name="t")
        engine = ds.get_execution_engine()
        with engine.get_connection() as connection:  # leaves a transaction open (autobegin)
            connection.execute(sa.text("select 1")).fetchall()
        return [c["name"] for c in engine.get_inspector().get_columns("t")]
    finally:
        _gx_duckdb.close(ds)
        ctx.data_sources.delete("gx_duckdb_reflect")


def test_reflection_after_a_query_needs_the_inspector_patch(
    gx: Any, con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pool hands the inspector the persistent connection's DuckDB connection: without
    # the patch its BEGIN collides with the open transaction, and every expectation that
    # needs column types errors (seen when a failing UnexpectedRowsExpectation ran first).
    assert _reflect_after_a_query(con) == ["id", "v"]
    from great_expectations.execution_engine import SqlAlchemyExecutionEngine

    original = SqlAlchemyExecutionEngine.get_inspector.__wrapped__
    monkeypatch.setattr(SqlAlchemyExecutionEngine, "get_inspector", original)
    with pytest.raises(Exception, match="cannot start a transaction within a transaction"):
        _reflect_after_a_query(con)
