"""Data-quality suites and gates on tiny literal DuckDB tables."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import duckdb
import pytest

from linkage import quality
from linkage.db import row_count
from linkage.errors import ConfigError, DataQualityError

SUITES = [
    "conversion_rates",
    "links",
    "raw_case_outcomes",
    "raw_referrals",
    "raw_tips",
    "stg_case_outcomes",
    "stg_referrals",
]
# A distinctive record value planted in bad rows: it must never reach any output.
SECRET = "ZQX-SECRET-4711"

_CLEAN_SQL = """
create table raw_tips as select * from (values
    ('T1', timestamp '2024-01-01 10:00', 'esp', 'MailCo', 'apparent_csam', false, 2),
    ('T2', timestamp '2024-01-02 11:30', 'public', null, 'enticement', true, null),
    ('T3', timestamp '2024-01-03 09:00', 'esp', 'MailCo', 'apparent_csam', false, 0)
) t(tip_id, received_at, reporter_type, reporter_name, incident_type, is_urgent, file_count);
alter table raw_tips add column suspect_email varchar;
alter table raw_tips add column suspect_username varchar;
alter table raw_tips add column suspect_phone varchar;
alter table raw_tips add column suspect_ip varchar;
alter table raw_tips add column suspect_first_name varchar;
alter table raw_tips add column suspect_last_name varchar;
alter table raw_tips add column suspect_dob date;
alter table raw_tips add column country varchar default 'US';
alter table raw_tips add column state varchar default 'CA';

create table raw_referrals (
    referral_id varchar, tip_id varchar, referred_at timestamp, agency_id varchar,
    agency_state varchar, offense_type varchar, priority bigint, first_name varchar,
    last_name varchar, dob date, email varchar, phone varchar, username varchar, ip varchar,
    city varchar, state varchar, zip varchar, note varchar);
insert into raw_referrals (referral_id, tip_id, referred_at, agency_id, offense_type, dob) values
    ('R1', 'T1', '2024-01-05 08:00', 'ICAC-CA', 'possession', '1990-05-01'),
    ('R2', 'T1', '2024-01-06 08:00', 'ICAC-CA', 'possession', null),
    ('R3', 'T3', '2024-01-04 08:00', 'ICAC-TX', 'enticement', null);

create table raw_case_outcomes (
    case_id varchar, agency_id varchar, opened_at date, first_name varchar, last_name varchar,
    dob date, email varchar, phone varchar, username varchar, city varchar, state varchar,
    zip varchar, offense_charged varchar, investigated boolean, arrested_at date,
    charged_at date, convicted_at date, cybertip_ref varchar);
insert into raw_case_outcomes
    (case_id, agency_id, opened_at, investigated, arrested_at, charged_at, convicted_at) values
    ('C1', 'ICAC-CA', '2024-02-01', true, '2024-03-01', '2024-03-05', '2024-09-01'),
    ('C2', 'ICAC-TX', '2024-02-10', true, null, null, null);

create table stg_referrals as select
    referral_id as unique_id, 'referral' as record_type, cast(referred_at as date) as referral_date,
    cast(null as date) as case_opened_date, agency_id, tip_id as tip_ref,
    'al' as first_name, 'smith' as last_name, dob, 'al@example.org' as email,
    '5551234567' as phone, null::varchar as username, 'fresno' as city, 'CA' as state,
    '93701' as zip
from raw_referrals;
create table stg_case_outcomes as select
    case_id as unique_id, 'case' as record_type, cast(null as date) as referral_date,
    opened_at as case_opened_date, agency_id, cybertip_ref as tip_ref,
    'al' as first_name, 'smith' as last_name, dob, null::varchar as email,
    '5551234567' as phone, null::varchar as username, 'fresno' as city, 'CA' as state,
    '93701' as zip
from raw_case_outcomes;

create table links as select * from (values
    ('R1', 'C1', 0.97, 8.1), ('R3', 'C2', 0.55, 0.3)
) t(referral_id, case_id, match_probability, match_weight);

create table conversion_rates as
with stages(stage, k) as (
    values ('investigation', 1), ('arrest', 2), ('charge', 3), ('conviction', 4)),
methods(method, is_primary) as (values ('threshold', true), ('deterministic', false))
select o.offense_type, s.stage, 100 as n_referrals, 0.5 / s.k as estimate,
       0.5 / s.k - 0.05 as ci_low, 0.5 / s.k + 0.05 as ci_high, m.method, m.is_primary,
       'cumulative' as rate_kind
from stages s, methods m, (values ('possession'), ('enticement'), ('ALL')) o(offense_type);
"""


@pytest.fixture(scope="module", autouse=True)
def _gx_once() -> None:
    """Import GX and build the shared context once for the module (about 4 s)."""
    quality._context()


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(_CLEAN_SQL)
    yield con
    con.close()


def _blocking(result: quality.SuiteResult) -> set[str]:
    return {
        f"{r.expectation_type} {r.column or r.description}" for r in result.results if r.blocking
    }


# --- strict loading -------------------------------------------------------------------------


def _write_suite(folder: Path, name: str, expectations: list[dict], **meta: str) -> None:
    data = {
        "name": name,
        "meta": meta or {"table": "t", "stage": "raw"},
        "expectations": expectations,
    }
    (folder / f"{name}.json").write_text(json.dumps(data), encoding="utf-8")


def test_shipped_suites_are_one_per_table() -> None:
    assert quality.suite_names() == SUITES


@pytest.mark.parametrize("name", SUITES)
def test_each_suite_loads_strictly(name: str) -> None:
    suite = quality.load_suite(name)
    raw = json.loads((quality.expectations_dir() / f"{name}.json").read_text())
    assert suite.meta["table"] == name
    assert len(suite.expectations) == len(raw["expectations"]) > 0


@pytest.mark.parametrize(
    ("expectation", "match"),
    [
        ({"type": "expect_column_values_to_be_nonsense", "kwargs": {"column": "a"}}, "unknown"),
        (
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "a", "min_vlue": 1},
            },
            "invalid expectation",
        ),
    ],
    ids=["unknown-type", "misspelt-kwarg"],
)
def test_strict_loader_rejects(tmp_path: Path, expectation: dict, match: str) -> None:
    ok = {"type": "expect_column_to_exist", "kwargs": {"column": "a"}}
    _write_suite(tmp_path, "t", [ok, expectation])
    with pytest.raises(ConfigError, match=match):
        quality.load_suite("t", tmp_path)


def test_strict_loader_checks_name_and_meta(tmp_path: Path) -> None:
    _write_suite(tmp_path, "t", [], table="t")
    with pytest.raises(ConfigError, match="meta.stage"):
        quality.load_suite("t", tmp_path)
    (tmp_path / "u.json").write_text(json.dumps({"name": "t", "meta": {}, "expectations": []}))
    with pytest.raises(ConfigError, match="file stem"):
        quality.load_suite("u", tmp_path)
    with pytest.raises(ConfigError, match="unknown suite"):
        quality.load_suite("nope", tmp_path)


# --- each critical rule: passes clean, fails corrupted ----------------------------------------


def test_clean_tables_pass_every_suite(con: duckdb.DuckDBPyConnection) -> None:
    results = quality.validate_tables(con)
    assert [r.suite for r in results] == SUITES
    for r in results:
        assert r.success, quality.format_summary([r])
        assert not r.failures, quality.format_summary([r])
        # results come back in suite order, whatever order GX computed them in
        suite = quality.load_suite(r.suite)
        assert [x.expectation_type for x in r.results] == [
            e.expectation_type for e in suite.expectations
        ]


BAD_INPUTS = {
    "duplicate-id": (
        "raw_referrals",
        f"insert into raw_referrals (referral_id, tip_id, referred_at, agency_id, offense_type)"
        f" select '{SECRET}', 'T2', '2024-01-09', 'A', 'x' from range(2)",
        {"expect_column_values_to_be_unique referral_id"},
    ),
    "null-key": (
        "raw_tips",
        f"insert into raw_tips (tip_id, received_at, reporter_type, incident_type, is_urgent,"
        f" reporter_name) values (null, '2024-01-01', 'esp', 'x', false, '{SECRET}')",
        {"expect_column_values_to_not_be_null tip_id"},
    ),
    "orphan-tip-id": (
        "raw_referrals",
        f"update raw_referrals set tip_id = '{SECRET}' where referral_id = 'R2'",
        {"unexpected_rows_expectation every referral's tip_id exists in raw_tips"},
    ),
    "referral-before-tip": (
        "raw_referrals",
        "update raw_referrals set referred_at = '2023-12-31 23:00' where referral_id = 'R2'",
        {"unexpected_rows_expectation no referral is referred before its tip was received"},
    ),
    "probability-above-1": (
        "links",
        "update links set match_probability = 1.2 where referral_id = 'R1'",
        {"expect_column_values_to_be_between match_probability"},
    ),
    "two-links-one-referral": (
        "links",
        "insert into links values ('R1', 'C2', 0.6, 0.5)",
        {"unexpected_rows_expectation each referral has at most one link"},
    ),
    "ci-low-above-estimate": (
        "conversion_rates",
        "update conversion_rates set ci_low = estimate + 0.01 where stage = 'charge'",
        {"expect_column_pair_values_a_to_be_greater_than_b estimate,ci_low"},
    ),
    "funnel-not-monotone": (
        "conversion_rates",
        "update conversion_rates set estimate = 0.55, ci_high = 0.6"
        " where stage = 'arrest' and offense_type = 'enticement'",
        {
            "unexpected_rows_expectation funnel monotone within (offense_type, method): "
            "investigation >= arrest >= charge >= conviction"
        },
    ),
    "two-primary-methods": (
        "conversion_rates",
        "update conversion_rates set is_primary = true",
        {"unexpected_rows_expectation exactly one method is marked primary"},
    ),
    "link-to-unknown-case": (
        "links",
        f"update links set case_id = '{SECRET}' where referral_id = 'R3'",
        {"unexpected_rows_expectation every linked case_id exists in raw_case_outcomes"},
    ),
    "staged-row-lost": (
        "stg_referrals",
        "delete from stg_referrals where unique_id = 'R3'",
        {"expect_table_row_count_to_equal_other_table one staged row per raw_referrals row"},
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_critical_rule_fails_on_bad_input(con: duckdb.DuckDBPyConnection, case: str) -> None:
    suite, sql, expected = BAD_INPUTS[case]
    con.execute(sql)
    result = quality.validate_table(con, suite)
    assert not result.success
    assert _blocking(result) == expected
    failed = [r for r in result.results if r.blocking]
    assert all(r.unexpected_count for r in failed if "row_count" not in r.expectation_type)


def test_missing_column_is_reported_not_raised(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("alter table raw_tips drop column incident_type")
    result = quality.validate_table(con, "raw_tips")
    blocking = {r.expectation_type: r for r in result.results if r.blocking}
    assert "incident_type" in blocking["expect_table_columns_to_match_set"].description
    errored = [r for r in result.results if r.error]
    assert [r.column for r in errored] == ["incident_type"]


def test_missing_table_fails_the_suite(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("drop table links")
    result = quality.validate_table(con, "links")
    assert not result.success and result.error == "table links not found"


# --- gate ---------------------------------------------------------------------------------


def test_warnings_do_not_stop_the_gate(
    con: duckdb.DuckDBPyConnection, caplog: pytest.LogCaptureFixture
) -> None:
    con.execute("update raw_case_outcomes set arrested_at = '2024-01-01' where case_id = 'C1'")
    con.execute("update stg_referrals set phone = '555', state = 'ca'")
    with caplog.at_level(logging.WARNING, logger="linkage.quality"):
        results = quality.gate(con, ["raw_case_outcomes", "stg_referrals"])
    assert all(r.success for r in results)
    warned = {(r.severity, r.column) for res in results for r in res.failures}
    assert warned == {("warning", "arrested_at,opened_at"), ("warning", "phone"),
                      ("warning", "state")}  # fmt: skip
    assert "arrested_at" in caplog.text


def test_gate_raises_naming_table_column_rule_and_count(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("update links set match_probability = 1.5")
    with pytest.raises(DataQualityError) as err:
        quality.gate(con, ["raw_referrals", "links"])
    message = str(err.value)
    assert err.value.exit_code == 5
    assert "links: [critical] expect_column_values_to_be_between match_probability" in message
    assert "2 unexpected (100.00%)" in message


# --- quarantine ---------------------------------------------------------------------------


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
    result = quality.quarantine_stage_dates(con, tolerance=0.01)
    assert (result.n_rows, result.n_quarantined) == (200, 2)
    assert result.reasons == {
        "arrested_at before opened_at": 1,
        "charged_at before an earlier stage": 1,
    }
    assert row_count(con, "raw_case_outcomes") == 198
    moved = con.sql("select case_id, reason, extra from quarantine_case_outcomes order by 1")
    assert moved.fetchall() == [
        ("C0", "arrested_at before opened_at", "x"),
        ("C1", "charged_at before an earlier stage", "x"),
    ]
    # a second pass finds nothing more to move
    assert quality.quarantine_stage_dates(con).n_quarantined == 0


def test_quarantine_above_tolerance_raises_and_moves_nothing(
    con: duckdb.DuckDBPyConnection,
) -> None:
    _cases(con, n_bad=3)
    with pytest.raises(DataQualityError, match=r"3 of 200 rows \(1.50%\)"):
        quality.quarantine_stage_dates(con, tolerance=0.01)
    assert row_count(con, "raw_case_outcomes") == 200
    assert quality.quarantine_stage_dates(con, tolerance=0.02).n_quarantined == 3


# --- outputs carry counts, never values ---------------------------------------------------------


def test_outputs_hold_counts_but_no_record_values(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for case in ("duplicate-id", "orphan-tip-id", "null-key", "link-to-unknown-case"):
        con.execute(BAD_INPUTS[case][1])
    con.execute(f"update stg_referrals set email = '{SECRET}', phone = '{SECRET}'")
    con.execute("alter table links alter match_probability type varchar")
    con.execute(f"update links set match_probability = '{SECRET}' where referral_id = 'R1'")
    # a database error that quotes the offending value
    con.execute(f"update raw_tips set tip_id = '{SECRET}' where tip_id = 'T2'")
    query = "select cast(tip_id as integer) from {batch}"
    rule = {"type": "unexpected_rows_expectation", "kwargs": {"unexpected_rows_query": query}}
    _write_suite(tmp_path, "casts", [rule], table="raw_tips", stage="raw")
    with caplog.at_level(logging.DEBUG):
        results = quality.validate_tables(con)
        with pytest.raises(DataQualityError) as err:
            quality.gate(con, SUITES)
        cast = quality.validate_table(con, "casts", directory=tmp_path)
    assert "Could not convert string '…'" in (cast.results[0].error or "")
    results.append(cast)
    summary = quality.format_summary(results)
    report = quality.write_json(results, tmp_path / "dq.json").read_text()
    assert (
        "[FAIL] raw_referrals: [critical] expect_column_values_to_be_unique referral_id: "
        "2 unexpected (40.00%)" in summary
    )
    assert summary.endswith("3 passed, 5 failed")
    data = json.loads(report)
    assert data["schema"] == "linkage.quality/1" and data["failed"] == 5
    email = next(
        e for s in data["suites"] if s["suite"] == "stg_referrals"
        for e in s["expectations"] if e["column"] == "email"
    )  # fmt: skip
    assert (email["severity"], email["success"], email["unexpected_count"]) == ("warning", False, 3)
    for text in (summary, report, str(err.value), caplog.text, repr(results)):
        assert SECRET not in text


# --- the validate command and the network ---------------------------------------------------


def test_validate_input_runs_raw_suites_and_writes_json(contract_rows, contract_write, tmp_path):
    source = contract_write(contract_rows, "csv")
    results = quality.validate_input(source, json_out=tmp_path / "out" / "dq.json")
    assert [r.suite for r in results] == ["raw_case_outcomes", "raw_referrals", "raw_tips"]
    assert all(r.success for r in results)
    stage_warning = [f for r in results for f in r.failures]
    assert [(f.severity, f.column, f.unexpected_count) for f in stage_warning] == [
        ("warning", "arrested_at,opened_at", 1)
    ]
    assert json.loads((tmp_path / "out" / "dq.json").read_text())["passed"] == 3
    only = quality.validate_input(source, suite="raw_tips")
    assert [r.suite for r in only] == ["raw_tips"]


_NET_EVENTS: list[str] = []
_WATCH = {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "urllib.Request"}


def _audit(event: str, args: tuple) -> None:
    if event in _WATCH:
        _NET_EVENTS.append(event)


def test_validation_makes_no_network_connection(con: duckdb.DuckDBPyConnection) -> None:
    sys.addaudithook(_audit)  # hooks cannot be removed; this one only records
    _NET_EVENTS.clear()
    results = quality.validate_tables(con)
    assert len(results) == len(SUITES)
    assert _NET_EVENTS == []
