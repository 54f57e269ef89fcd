"""Data-quality suites and gates on tiny literal DuckDB tables: every expectation of every
suite passes on clean tables and fails on a table corrupted for it."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from quality_tables import CLEAN_SQL, SECRET, labels, suite_expectations

from linkage.contract import CASE_OUTCOMES, REFERRALS, TIPS
from linkage.db import quote_ident
from linkage.errors import ConfigError, DataQualityError
from linkage.quality import suites as quality

SUITES = [
    "conversion_rates",
    "links",
    "raw_case_outcomes",
    "raw_referrals",
    "raw_tips",
    "stg_case_outcomes",
    "stg_referrals",
]
TYPE_CHECK = "expect_column_values_to_be_in_type_list"
FUNNEL = (
    "sql cumulative funnel non-increasing within (offense_type, method): "
    "investigation >= arrest >= charge >= conviction"
)
STG_CASE_ROWS = "sql one staged row per raw_case_outcomes row that is not quarantined"
LINKABLE = (
    "sql at least 80% of referrals carry a linkable identifier (e-mail, phone, username, "
    "or last name with DOB)"
)


@pytest.fixture(scope="module", autouse=True)
def _gx_once() -> None:
    """Import GX and build the shared context once for the module (about 4 s)."""
    quality._context()


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute(CLEAN_SQL)
    yield con
    con.close()


def _failed(result: quality.SuiteResult) -> set[str]:
    """Labels (see quality_tables.label) of the failed expectations, any severity."""
    names = labels(result.suite)
    return {names[r.index] for r in result.failures if r.index is not None}


# --- the suite files ------------------------------------------------------------------------


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
    assert suite.meta["table"] == name
    assert len(suite.expectations) == len(suite_expectations(name)) > 0
    names = labels(name)
    assert len(set(names)) == len(names), "labels must identify each expectation"


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


@pytest.mark.parametrize("table", [TIPS, REFERRALS, CASE_OUTCOMES], ids=lambda t: t.name)
def test_raw_suites_check_every_contract_column_and_type(table) -> None:
    gx_type = {"VARCHAR": ["String"], "TIMESTAMP": ["TIMESTAMP"], "DATE": ["DATE"],
               "BOOLEAN": ["BOOLEAN"], "BIGINT": ["Integer"]}  # fmt: skip
    exps = suite_expectations(f"raw_{table.name}")
    columns = next(e for e in exps if e["type"] == "expect_table_columns_to_match_set")
    assert columns["kwargs"]["column_set"] == list(table.column_names)
    types = {e["kwargs"]["column"]: e["kwargs"]["type_list"]
             for e in exps if e["type"] == TYPE_CHECK}  # fmt: skip
    assert types == {c.name: gx_type[c.dtype] for c in table.columns}
    keys = {e["kwargs"]["column"] for e in exps if e["type"] == "expect_column_values_to_be_unique"}
    assert keys == {table.key}
    required = {
        e["kwargs"]["column"] for e in exps
        if e["type"] == "expect_column_values_to_not_be_null" and e["severity"] == "critical"
    }  # fmt: skip
    assert required == set(table.required_columns)


def test_no_suite_lists_offense_types() -> None:
    # Categorical sets come from the data: the only fixed value sets are the contract's
    # stages, rate kinds, reporter types and record types.
    allowed = {("conversion_rates", "stage"), ("conversion_rates", "rate_kind"),
               ("raw_tips", "reporter_type"), ("stg_referrals", "record_type"),
               ("stg_case_outcomes", "record_type")}  # fmt: skip
    for suite in SUITES:
        for e in suite_expectations(suite):
            if "value_set" in e["kwargs"]:
                assert (suite, e["kwargs"]["column"]) in allowed
            assert "csam" not in json.dumps(e).lower()


# --- every expectation: passes clean, fails corrupted -------------------------------------------


def test_clean_tables_pass_every_suite(con: duckdb.DuckDBPyConnection) -> None:
    results = quality.validate_tables(con)
    assert [r.suite for r in results] == SUITES
    for r in results:
        assert r.success and not r.failures, quality.describe_failure(r.table, r.failures[0])
        # results come back in suite order, whatever order GX computed them in
        assert [x.index for x in r.results] == list(range(len(suite_expectations(r.suite))))


# case id: (suite, SQL that corrupts the clean tables, labels of the expectations that fail)
BAD_TABLES: dict[str, tuple[str, str, set[str]]] = {
    # raw_tips
    "tips-missing-column": ("raw_tips", "alter table raw_tips drop column country",
                            {"columns", "type country", "regex country"}),
    "tips-empty": ("raw_tips", "delete from raw_tips", {"rows"}),
    "tips-null-key": ("raw_tips", "insert into raw_tips (tip_id, received_at, reporter_type,"
                      f" incident_type, is_urgent, reporter_name) values (null, '2024-01-01',"
                      f" 'esp', 'x', false, '{SECRET}')", {"not-null tip_id"}),
    "tips-duplicate-key": ("raw_tips", "insert into raw_tips (tip_id, received_at,"
                           " reporter_type, incident_type, is_urgent) values ('T1',"
                           " '2024-01-01', 'esp', 'x', false)", {"unique tip_id"}),
    "tips-required-null": ("raw_tips", "update raw_tips set received_at = null, reporter_type ="
                           " null, incident_type = null, is_urgent = null where tip_id = 'T2'",
                           {"not-null received_at", "not-null reporter_type",
                            "not-null incident_type", "not-null is_urgent"}),
    "tips-negative-file-count": ("raw_tips", "update raw_tips set file_count = -1 where tip_id"
                                 " = 'T1'", {"between file_count"}),
    "tips-warnings": ("raw_tips", "update raw_tips set received_at = '1990-01-01',"
                      " suspect_dob = '1850-01-01', reporter_type = 'ESP' where tip_id = 'T1';"
                      " update raw_tips set country = 'usa', state = 'ca'",
                      {"between received_at", "between suspect_dob", "in-set reporter_type",
                       "regex country", "regex state"}),
    # raw_referrals
    "referrals-missing-column": ("raw_referrals", "alter table raw_referrals drop column zip",
                                 {"columns", "type zip"}),
    "referrals-empty": ("raw_referrals", "delete from raw_referrals", {"rows"}),
    "referrals-null-key": ("raw_referrals", "update raw_referrals set referral_id = null"
                           " where referral_id = 'R2'", {"not-null referral_id"}),
    "referrals-duplicate-key": ("raw_referrals", "insert into raw_referrals (referral_id,"
                                f" tip_id, referred_at, agency_id, offense_type) select"
                                f" '{SECRET}', 'T2', '2024-01-09', 'A', 'x' from range(2)",
                                {"unique referral_id"}),
    "referrals-required-null": ("raw_referrals", "update raw_referrals set tip_id = null,"
                                " referred_at = null, agency_id = null, offense_type = null"
                                " where referral_id = 'R2'",
                                {"not-null tip_id", "not-null referred_at",
                                 "not-null agency_id", "not-null offense_type"}),
    "referrals-orphan-tip": ("raw_referrals", f"update raw_referrals set tip_id = '{SECRET}'"
                             " where referral_id = 'R2'",
                             {"sql every referral's tip_id exists in raw_tips"}),
    "referrals-before-tip": ("raw_referrals", "update raw_referrals set referred_at ="
                             " '2023-12-31 23:00' where referral_id = 'R2'",
                             {"sql no referral is referred before its tip was received"}),
    "referrals-warnings": ("raw_referrals", "update raw_referrals set priority = 0,"
                           " referred_at = '2041-06-01', dob = '2045-01-01'"
                           " where referral_id = 'R1'",
                           {"between priority", "between referred_at", "between dob"}),
    # raw_case_outcomes
    "cases-missing-column": ("raw_case_outcomes", "alter table raw_case_outcomes drop column"
                             " zip", {"columns", "type zip"}),
    "cases-empty": ("raw_case_outcomes", "delete from raw_case_outcomes", {"rows"}),
    "cases-null-key": ("raw_case_outcomes", "update raw_case_outcomes set case_id = null"
                       " where case_id = 'C2'", {"not-null case_id"}),
    "cases-duplicate-key": ("raw_case_outcomes", "update raw_case_outcomes set case_id = 'C1'",
                            {"unique case_id"}),
    "cases-required-null": ("raw_case_outcomes", "update raw_case_outcomes set agency_id ="
                            " null, opened_at = null, investigated = null where case_id = 'C2'",
                            {"not-null agency_id", "not-null opened_at",
                             "not-null investigated"}),
    # one row per pair of stages out of order, each breaking only that pair
    "cases-stage-order": ("raw_case_outcomes", "insert into raw_case_outcomes (case_id,"
                          " agency_id, opened_at, investigated, arrested_at, charged_at,"
                          " convicted_at) values"
                          " ('X1', 'A', '2024-02-01', true, '2024-01-01', null, null),"
                          " ('X2', 'A', '2024-01-01', true, '2024-03-01', '2024-02-01', null),"
                          " ('X3', 'A', '2024-01-01', true, '2024-02-01', '2024-04-01',"
                          "  '2024-03-01'),"
                          " ('X4', 'A', '2024-03-01', true, null, '2024-02-01', null),"
                          " ('X5', 'A', '2024-01-01', true, '2024-03-01', null, '2024-02-01'),"
                          " ('X6', 'A', '2024-03-01', true, null, null, '2024-02-01')",
                          {"pair arrested_at,opened_at", "pair charged_at,arrested_at",
                           "pair convicted_at,charged_at", "pair charged_at,opened_at",
                           "pair convicted_at,arrested_at", "pair convicted_at,opened_at"}),
    "cases-warnings": ("raw_case_outcomes", "update raw_case_outcomes set opened_at ="
                       " '1990-01-01' where case_id = 'C2'; update raw_case_outcomes set"
                       " arrested_at = '2041-01-01', charged_at = '2041-02-01', convicted_at ="
                       f" '2041-03-01', dob = '1850-01-01', cybertip_ref = '{SECRET}'"
                       " where case_id = 'C1'",
                       {"between opened_at", "between arrested_at", "between charged_at",
                        "between convicted_at", "between dob",
                        "sql every recorded cybertip_ref exists in raw_tips (the audit sample)"}),
    # stg_referrals
    "stg-referrals-missing-column": ("stg_referrals", "alter table stg_referrals drop column"
                                     " zip", {"columns", "type zip", "regex zip"}),
    "stg-referrals-empty": ("stg_referrals", "delete from stg_referrals",
                            {"rows", "rows-equal"}),
    "stg-referrals-null-key": ("stg_referrals", "update stg_referrals set unique_id = null"
                               " where unique_id = 'R2'", {"not-null unique_id"}),
    "stg-referrals-duplicate-key": ("stg_referrals", "update stg_referrals set unique_id ="
                                    " 'R1'", {"unique unique_id"}),
    "stg-referrals-row-lost": ("stg_referrals", "delete from stg_referrals where unique_id ="
                               " 'R3'", {"rows-equal"}),
    "stg-referrals-record-type": ("stg_referrals", "update stg_referrals set record_type ="
                                  " 'case' where unique_id = 'R1'", {"in-set record_type"}),
    "stg-referrals-required-null": ("stg_referrals", "update stg_referrals set agency_id ="
                                    " null, referral_date = null where unique_id = 'R1'",
                                    {"not-null agency_id", "not-null referral_date"}),
    "stg-referrals-warnings": ("stg_referrals", "update stg_referrals set referral_date ="
                               " '1990-01-01', dob = '1850-01-01' where unique_id = 'R1';"
                               f" update stg_referrals set email = '{SECRET}', phone ="
                               " '555-1234', state = 'ca', zip = '9370'",
                               {"between referral_date", "between dob", "regex email",
                                "regex phone", "regex state", "regex zip"}),
    "stg-referrals-unlinkable": ("stg_referrals", "update stg_referrals set email = null,"
                                 " phone = null, username = null, last_name = null",
                                 {LINKABLE}),
    # stg_case_outcomes
    "stg-cases-missing-column": ("stg_case_outcomes", "alter table stg_case_outcomes drop"
                                 " column zip", {"columns", "type zip", "regex zip"}),
    "stg-cases-empty": ("stg_case_outcomes", "delete from stg_case_outcomes",
                        {"rows", STG_CASE_ROWS}),
    # a staged id that is no raw row's (or a raw row missing) breaks the row match too
    "stg-cases-null-key": ("stg_case_outcomes", "update stg_case_outcomes set unique_id ="
                           " null where unique_id = 'C2'", {"not-null unique_id",
                                                             STG_CASE_ROWS}),
    "stg-cases-duplicate-key": ("stg_case_outcomes", "update stg_case_outcomes set unique_id"
                                " = 'C1'", {"unique unique_id", STG_CASE_ROWS}),
    "stg-cases-row-lost": ("stg_case_outcomes", "delete from stg_case_outcomes where"
                           " unique_id = 'C2'", {STG_CASE_ROWS}),
    "stg-cases-record-type": ("stg_case_outcomes", "update stg_case_outcomes set record_type"
                              " = 'referral' where unique_id = 'C1'", {"in-set record_type"}),
    "stg-cases-required-null": ("stg_case_outcomes", "update stg_case_outcomes set agency_id"
                                " = null, case_opened_date = null where unique_id = 'C1'",
                                {"not-null agency_id", "not-null case_opened_date"}),
    "stg-cases-warnings": ("stg_case_outcomes", "update stg_case_outcomes set"
                           " case_opened_date = '1990-01-01', dob = '2045-01-01' where"
                           " unique_id = 'C1'; update stg_case_outcomes set email ="
                           " 'no-at-sign', phone = '555', state = 'Calif', zip = 'ABCDE'",
                           {"between case_opened_date", "between dob", "regex email",
                            "regex phone", "regex state", "regex zip"}),
    "stg-cases-incomplete": ("stg_case_outcomes", "update stg_case_outcomes set last_name ="
                             " null, dob = null where unique_id = 'C1'",
                             {"not-null last_name", "not-null dob"}),
    # links
    "links-missing-column": ("links", "alter table links drop column match_weight",
                             {"columns", "type match_weight"}),
    "links-null-values": ("links", "update links set case_id = null, match_probability = null"
                          " where referral_id = 'R3'; update links set referral_id = null"
                          " where referral_id = 'R1'",
                          {"not-null referral_id", "not-null case_id",
                           "not-null match_probability",
                           "sql every linked referral_id exists in raw_referrals",
                           "sql every linked case_id exists in raw_case_outcomes"}),
    "links-probability-above-1": ("links", "update links set match_probability = 1.2 where"
                                  " referral_id = 'R1'", {"between match_probability"}),
    "links-two-links-one-referral": ("links", "insert into links values ('R1', 'C2', 0.6,"
                                     " 0.5)", {"sql each referral has at most one link"}),
    "links-unknown-referral": ("links", f"update links set referral_id = '{SECRET}' where"
                               " referral_id = 'R1'",
                               {"sql every linked referral_id exists in raw_referrals"}),
    "links-unknown-case": ("links", f"update links set case_id = '{SECRET}' where referral_id"
                           " = 'R3'", {"sql every linked case_id exists in raw_case_outcomes"}),
    # conversion_rates
    "rates-missing-column": ("conversion_rates", "alter table conversion_rates drop column"
                             " rate_kind",
                             {"columns", "type rate_kind", "not-null rate_kind",
                              "in-set rate_kind", "unique offense_type,stage,method,rate_kind",
                              FUNNEL}),
    "rates-empty": ("conversion_rates", "delete from conversion_rates",
                    {"rows", "sql exactly one method is marked primary",
                     "sql an ALL stratum is present",
                     "sql every offense_type of raw_referrals has conversion rates"}),
    "rates-null-keys": ("conversion_rates", "update conversion_rates set offense_type = case"
                        " when stage = 'arrest' then null else offense_type end, stage = case"
                        " when stage = 'charge' then null else stage end, method = case when"
                        " stage = 'conviction' then null else method end, rate_kind = case"
                        " when stage = 'investigation' then null else rate_kind end where"
                        " offense_type = 'possession' and method = 'deterministic'",
                        {"not-null offense_type", "not-null stage", "not-null method",
                         "not-null rate_kind"}),
    "rates-null-counts": ("conversion_rates", "update conversion_rates set n_referrals = null,"
                          " is_primary = null where offense_type = 'possession' and method ="
                          " 'deterministic' and rate_kind = 'conditional'",
                          {"not-null n_referrals", "not-null is_primary"}),
    "rates-unknown-stage": ("conversion_rates", "update conversion_rates set stage ="
                            " 'prosecution' where stage = 'charge' and rate_kind ="
                            " 'conditional'", {"in-set stage"}),
    "rates-unknown-rate-kind": ("conversion_rates", "update conversion_rates set rate_kind ="
                                " 'other' where rate_kind = 'conditional' and stage = 'arrest'"
                                " and method = 'deterministic' and offense_type = 'ALL'",
                                {"in-set rate_kind"}),
    "rates-duplicate-key": ("conversion_rates", "insert into conversion_rates select * from"
                            " conversion_rates where stage = 'investigation' and offense_type"
                            " = 'ALL' and method = 'threshold'",
                            {"unique offense_type,stage,method,rate_kind"}),
    "rates-negative-count": ("conversion_rates", "update conversion_rates set n_referrals = -1"
                             " where stage = 'arrest'", {"between n_referrals"}),
    "rates-above-1": ("conversion_rates", "update conversion_rates set estimate = 1.5, ci_low"
                      " = 1.45, ci_high = 1.55 where stage = 'investigation' and rate_kind ="
                      " 'cumulative'",
                      {"between estimate", "between ci_low", "between ci_high"}),
    "rates-ci-low-above-estimate": ("conversion_rates", "update conversion_rates set ci_low ="
                                    " estimate + 0.01 where stage = 'charge'",
                                    {"pair estimate,ci_low"}),
    "rates-ci-high-below-estimate": ("conversion_rates", "update conversion_rates set ci_high"
                                     " = estimate - 0.01 where stage = 'charge'",
                                     {"pair ci_high,estimate"}),
    "rates-funnel-not-monotone": ("conversion_rates", "update conversion_rates set estimate ="
                                  " 0.55, ci_high = 0.6 where stage = 'arrest' and"
                                  " offense_type = 'enticement' and rate_kind = 'cumulative'",
                                  {FUNNEL}),
    "rates-two-primary-methods": ("conversion_rates", "update conversion_rates set is_primary"
                                  " = true", {"sql exactly one method is marked primary"}),
    "rates-no-all-stratum": ("conversion_rates", "delete from conversion_rates where"
                             " offense_type = 'ALL'", {"sql an ALL stratum is present"}),
    "rates-unknown-offense-type": ("conversion_rates", "update conversion_rates set"
                                   f" offense_type = '{SECRET}' where offense_type ="
                                   " 'possession'",
                                   {"sql every offense_type (other than ALL) occurs in"
                                    " raw_referrals",
                                    "sql every offense_type of raw_referrals has conversion"
                                    " rates"}),
    "rates-missing-values": ("conversion_rates", "update conversion_rates set estimate = null,"
                             " ci_low = null, ci_high = null where stage = 'conviction'",
                             {"sql estimate and interval present where not suppressed"}),
    # suppression is disclosure control working, not a finding
    "rates-suppressed": ("conversion_rates", "update conversion_rates set estimate = null,"
                         " ci_low = null, ci_high = null, suppressed = true where stage ="
                         " 'conviction'", set()),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_TABLES))
def test_expectation_fails_on_bad_table(con: duckdb.DuckDBPyConnection, case: str) -> None:
    suite, sql, expected = BAD_TABLES[case]
    con.execute(sql)
    result = quality.validate_table(con, suite)
    assert _failed(result) == expected
    critical = {e: x for e, x in zip(labels(suite), suite_expectations(suite), strict=True)}
    assert result.success == all(critical[x]["severity"] != "critical" for x in expected)
    for r in result.failures:  # a failure says how many rows, or why it could not count
        assert r.error or r.unexpected_count or r.expectation_type.startswith("expect_table")


def test_every_expectation_has_a_failing_case() -> None:
    covered = {(suite, name) for suite, _, names in BAD_TABLES.values() for name in names}
    for suite in SUITES:
        for e, name in zip(suite_expectations(suite), labels(suite), strict=True):
            if e["type"] != TYPE_CHECK:  # the type checks: next test
                assert (suite, name) in covered, f"{suite}: no bad table fails {name!r}"


@pytest.mark.parametrize("suite", SUITES)
def test_every_type_check_fails_on_a_retyped_column(
    con: duckdb.DuckDBPyConnection, suite: str
) -> None:
    table = quality.load_suite(suite).meta["table"]
    columns = [e["kwargs"]["column"] for e in suite_expectations(suite) if e["type"] == TYPE_CHECK]
    types = dict(con.execute("select column_name, data_type from information_schema.columns"
                             " where table_name = $t", {"t": table}).fetchall())  # fmt: skip
    for column in columns:  # text becomes bytes, everything else text
        new = "blob" if types[column] == "VARCHAR" else "varchar"
        con.execute(f"alter table {quote_ident(table)} alter {quote_ident(column)} type {new}")
    result = quality.validate_table(con, suite)
    assert {x for x in _failed(result) if x.startswith("type ")} == {f"type {c}" for c in columns}
    retyped = next(r for r in result.failures if r.expectation_type == TYPE_CHECK)
    assert retyped.detail.startswith("expected ") and ", found " in retyped.detail


def test_a_broken_query_does_not_hide_the_other_results(con: duckdb.DuckDBPyConnection) -> None:
    # The funnel query fails to bind without rate_kind; the inspector must still reflect
    # the columns afterwards (see linkage.quality._gx_duckdb), so only rate_kind checks fail.
    con.execute("alter table conversion_rates drop column rate_kind")
    result = quality.validate_table(con, "conversion_rates")
    errors = {labels("conversion_rates")[r.index]: r.error for r in result.failures}
    assert "Binder Error" in errors[FUNNEL]
    assert errors["type rate_kind"] == "column rate_kind not found"
    assert not any("transaction" in (e or "") for e in errors.values())
    assert len(result.results) - len(result.failures) == 26


def test_missing_table_fails_the_suite(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("drop table links")
    result = quality.validate_table(con, "links")
    assert not result.success and result.error == "table links not found"


# --- the study window ------------------------------------------------------------------------


def test_study_window_moves_the_date_checks(con: duckdb.DuckDBPyConnection) -> None:
    window = quality.StudyWindow(dt.date(2024, 1, 2), dt.date(2024, 1, 2), dt.date(2024, 6, 30))
    tips = quality.validate_table(con, "raw_tips", window=window)
    received = next(r for r in tips.failures if r.column == "received_at")
    assert (received.severity, received.unexpected_count) == ("warning", 2)  # T1 and T3
    cases = quality.validate_table(con, "raw_case_outcomes", window=window)
    assert {r.column for r in cases.failures} == {"convicted_at"}  # 2024-09-01
    assert quality.validate_table(con, "raw_tips").success  # default: plausibility only
    whole_day = quality.StudyWindow(dt.date(2024, 1, 1), dt.date(2024, 1, 3))
    assert not quality.validate_table(con, "raw_tips", window=whole_day).failures


def test_study_window_is_checked() -> None:
    with pytest.raises(ConfigError, match="start <= end <= extract"):
        quality.StudyWindow(dt.date(2024, 2, 1), dt.date(2024, 1, 1))
    with pytest.raises(ConfigError, match="start <= end <= extract"):
        quality.StudyWindow.of(end=dt.date(2024, 12, 31), extract=dt.date(2024, 6, 30))
    only_extract = quality.StudyWindow.of(extract=dt.date(2025, 6, 30))
    assert (only_extract.start, only_extract.end) == (dt.date(1998, 1, 1), dt.date(2025, 6, 30))


# --- gate ---------------------------------------------------------------------------------


def test_warnings_do_not_stop_the_gate(
    con: duckdb.DuckDBPyConnection, caplog: pytest.LogCaptureFixture
) -> None:
    con.execute("update raw_case_outcomes set arrested_at = '2024-01-01' where case_id = 'C1'")
    con.execute("update stg_referrals set phone = '555', state = 'ca'")
    with caplog.at_level(logging.WARNING, logger="linkage.quality.suites"):
        results = quality.gate(con, ["raw_case_outcomes", "stg_referrals"])
    assert all(r.success for r in results)
    warned = {(r.severity, r.column) for res in results for r in res.failures}
    assert warned == {("warning", "arrested_at,opened_at"), ("warning", "phone"),
                      ("warning", "state")}  # fmt: skip
    assert "table raw_case_outcomes, column arrested_at,opened_at" in caplog.text


def test_gate_raises_naming_table_column_rule_and_count(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("update links set match_probability = 1.5")
    con.execute("delete from stg_referrals where unique_id = 'R3'")
    with pytest.raises(DataQualityError) as err:
        quality.gate(con, ["raw_referrals", "links", "stg_referrals"])
    assert err.value.exit_code == 5
    assert str(err.value) == (
        "data-quality gate failed (2 critical): table links, column match_probability: "
        "expect_column_values_to_be_between: 2 unexpected (100.00%); table stg_referrals: "
        "expect_table_row_count_to_equal_other_table [one staged row per raw_referrals row]: "
        "failed (2 rows, raw_referrals 3)"
    )


def test_gx_is_quiet_and_offline(
    con: duckdb.DuckDBPyConnection, capfd: pytest.CaptureFixture[str]
) -> None:
    import os

    ctx = quality._context()
    assert os.environ["GX_ANALYTICS_ENABLED"] == "False"
    assert ctx.variables.config.analytics_enabled is False
    assert ctx.variables.progress_bars == {"globally": False, "metric_calculations": False}
    gx_logger = logging.getLogger("great_expectations")
    assert gx_logger.propagate is False
    assert "_ToRoot" in [type(h).__name__ for h in gx_logger.handlers]
    con.execute("alter table links drop column match_weight")  # errors are quiet too
    capfd.readouterr()
    quality.validate_tables(con)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")  # no tqdm bars, no GX log lines, no prints
