"""Quarantine of case records whose stage dates are out of order."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from linkage.db import row_count
from linkage.errors import DataQualityError
from linkage.ingest.quarantine import quarantine_stage_dates


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    yield con
    con.close()


def _cases(con: duckdb.DuckDBPyConnection, n_bad: int, n: int = 200) -> None:
    con.execute(
        """create or replace table raw_case_outcomes as select
            'C' || i as case_id, date '2024-02-01' as opened_at, date '2024-03-01' as arrested_at,
            date '2024-04-01' as charged_at, cast(null as date) as convicted_at, 'x' as extra
        from range($n) r(i)""",
        {"n": n},
    )
    # out of order: arrested before opened; charged before opened with no arrest date
    con.execute(
        "update raw_case_outcomes set arrested_at = case when i % 2 = 0 then date '2024-01-01'"
        " end, charged_at = date '2024-01-15' from range($k) r(i) where case_id = 'C' || i",
        {"k": n_bad},
    )


def test_quarantine_moves_out_of_order_rows(con: duckdb.DuckDBPyConnection) -> None:
    _cases(con, n_bad=2)
    result = quarantine_stage_dates(con, tolerance=0.01)
    assert (result.n_rows, result.n_quarantined, result.share) == (200, 2, 0.01)
    assert result.reasons == {
        "arrested_at before opened_at": 1,
        "charged_at before an earlier stage": 1,
    }
    # the raw table stays exactly as loaded; the quarantine lists the rows with a reason
    assert row_count(con, "raw_case_outcomes") == 200
    moved = con.sql("select case_id, reason, extra from quarantine_case_outcomes order by 1")
    assert moved.fetchall() == [
        ("C0", "arrested_at before opened_at", "x"),
        ("C1", "charged_at before an earlier stage", "x"),
    ]
    # a second pass builds the same table again (nothing accumulates)
    assert quarantine_stage_dates(con).n_quarantined == 2
    assert row_count(con, "quarantine_case_outcomes") == 2


def test_staging_skips_quarantined_rows_and_pseudonymising_keeps_them(
    con: duckdb.DuckDBPyConnection,
) -> None:
    from quality_tables import CLEAN_SQL

    from linkage.ingest import build_staging

    con.execute(CLEAN_SQL)
    n_raw = row_count(con, "raw_case_outcomes")
    con.execute(
        "insert into raw_case_outcomes (case_id, agency_id, opened_at, investigated,"
        " arrested_at) values ('X1', 'A', '2024-02-01', true, '2024-01-01')")
    quarantine_stage_dates(con, tolerance=1.0)
    build_staging(con)
    staged = {r[0] for r in con.sql("select unique_id from stg_case_outcomes").fetchall()}
    assert "X1" not in staged and len(staged) == n_raw
    assert row_count(con, "raw_case_outcomes") == n_raw + 1
    build_staging(con, apply_quarantine=False)
    assert row_count(con, "stg_case_outcomes") == n_raw + 1


def test_quarantine_above_tolerance_raises_and_moves_nothing(
    con: duckdb.DuckDBPyConnection,
) -> None:
    _cases(con, n_bad=3)
    with pytest.raises(DataQualityError) as err:
        quarantine_stage_dates(con, tolerance=0.01)
    assert str(err.value) == (
        "table raw_case_outcomes: stage dates out of order in 3 of 200 rows (1.50%), above the "
        "tolerance of 1.00%: arrested_at before opened_at: 2, charged_at before an earlier "
        "stage: 1"
    )
    assert err.value.exit_code == 5
    assert row_count(con, "raw_case_outcomes") == 200
    assert quarantine_stage_dates(con, tolerance=0.02).n_quarantined == 3


def test_quarantine_removes_exactly_what_the_suite_warns_about(
    con: duckdb.DuckDBPyConnection,
) -> None:
    from quality_tables import CLEAN_SQL

    from linkage.quality import suites as quality

    con.execute(CLEAN_SQL)
    # one row per pair of stages out of order (as in test_quality's "cases-stage-order")
    con.execute(
        "insert into raw_case_outcomes (case_id, agency_id, opened_at, investigated,"
        " arrested_at, charged_at, convicted_at) values"
        " ('X1', 'A', '2024-02-01', true, '2024-01-01', null, null),"
        " ('X2', 'A', '2024-01-01', true, '2024-03-01', '2024-02-01', null),"
        " ('X3', 'A', '2024-01-01', true, '2024-02-01', '2024-04-01', '2024-03-01'),"
        " ('X4', 'A', '2024-03-01', true, null, '2024-02-01', null),"
        " ('X5', 'A', '2024-01-01', true, '2024-03-01', null, '2024-02-01'),"
        " ('X6', 'A', '2024-03-01', true, null, null, '2024-02-01')"
    )
    warned = quality.validate_table(con, "raw_case_outcomes").failures
    assert sum(r.unexpected_count or 0 for r in warned) == 6
    assert quarantine_stage_dates(con, tolerance=1.0).n_quarantined == 6
    assert con.sql("select list(case_id order by 1) from quarantine_case_outcomes"
                   ).fetchall() == [(["X1", "X2", "X3", "X4", "X5", "X6"],)]
