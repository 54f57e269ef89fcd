"""The mapping file (column renames, formats, value maps, bad-value policy) and the refusals
of misnamed or empty columns: one test per feature, on the tiny contract fixture."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from linkage.errors import ConfigError, ContractError
from linkage.ingest.load import load_input
from linkage.ingest.mapping import load_mapping, parse_mapping


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    yield connection
    connection.close()


def _rename(rows: dict, table: str, old: str, new: str) -> None:
    rows[table] = [{(new if k == old else k): v for k, v in r.items()} for r in rows[table]]


def _raw_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("select table_name from information_schema.tables "
                                      "where table_name like 'raw_%'").fetchall()]


def test_rename_maps_a_source_column_onto_the_contract(contract_rows, contract_write, con):
    _rename(contract_rows, "referrals", "last_name", "surname")
    _rename(contract_rows, "case_outcomes", "last_name", "family_name")
    mapping = parse_mapping({"referrals": {"columns": {"last_name": "surname"}},
                             "case_outcomes": {"columns": {"last_name": "family_name"}}})
    load_input(contract_write(contract_rows), con, mapping=mapping)
    assert con.sql("select distinct last_name from raw_referrals").fetchall() == [("Smith",)]
    assert con.sql("select distinct last_name from raw_case_outcomes").fetchall() == [("Smith",)]
    columns = {r[0] for r in con.sql("describe raw_referrals").fetchall()}
    assert "surname" not in columns  # consumed, not carried as an extra


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_formats_parse_dates_and_timestamps(fmt, contract_rows, contract_write, con):
    for r in contract_rows["referrals"]:
        r["dob"] = "05/13/1990"  # a day > 12: Parquet's writer sniffs it as a date itself
        r["referred_at"] = r["referred_at"].replace("2024-01-0", "2024010").replace(":", "")
    for r in contract_rows["case_outcomes"]:
        r["opened_at"] = "20240201"
    mapping = parse_mapping({"referrals": {"formats": {"dob": "%m/%d/%Y",
                                                       "referred_at": "%Y%m%d %H%M%S"}},
                             "case_outcomes": {"formats": {"opened_at": "%Y%m%d"}}})
    load_input(contract_write(contract_rows, fmt), con, mapping=mapping)
    got = con.sql("select distinct dob, min(referred_at) over () from raw_referrals").fetchall()
    assert [(str(d), str(t)) for d, t in got] == [("1990-05-13", "2024-01-04 08:00:00")]
    opened = con.sql("select distinct opened_at from raw_case_outcomes").fetchall()
    assert [str(d) for (d,) in opened] == ["2024-02-01"]


def test_without_a_format_such_dates_are_refused(contract_rows, contract_write, con):
    for r in contract_rows["referrals"]:
        r["dob"] = "05/01/1990"
    with pytest.raises(ContractError) as err:
        load_input(contract_write(contract_rows), con)
    assert err.value.column == "dob" and err.value.rule == "unparsable value"


def test_value_maps_recode_booleans_and_categories(contract_rows, contract_write, con):
    for r, flag in zip(contract_rows["case_outcomes"], ("Y", "N"), strict=True):
        r["investigated"] = flag
    for r in contract_rows["referrals"]:
        r["offense_type"] = "POSS"
    mapping = parse_mapping({
        "case_outcomes": {"values": {"investigated": {"Y": True, "N": False}}},
        "referrals": {"values": {"offense_type": {"POSS": "possession"}}}})
    load_input(contract_write(contract_rows), con, mapping=mapping)
    got = con.sql("select case_id, investigated from raw_case_outcomes order by 1").fetchall()
    assert got == [("C1", True), ("C2", False)]
    offenses = con.sql("select distinct offense_type from raw_referrals").fetchall()
    assert offenses == [("possession",)]


def _referrals_with_dobs(contract_rows, n: int, dobs: dict[int, str]) -> None:
    """``n`` copies of the first referral (ids R0, R1, ...), row i's dob set to dobs[i]."""
    rows = [dict(contract_rows["referrals"][0], referral_id=f"R{i}") for i in range(n)]
    for i, dob in dobs.items():
        rows[i]["dob"] = dob
    contract_rows["referrals"] = rows


def test_bad_value_fails_by_default_and_null_counts_it(contract_rows, contract_write, con,
                                                       tmp_path):
    _referrals_with_dobs(contract_rows, 40, {7: "not a date"})
    source = contract_write(contract_rows)
    with pytest.raises(ContractError) as err:
        load_input(source, con)
    assert (err.value.column, err.value.n_rows) == ("dob", 1)
    assert _raw_tables(con) == []
    summary = load_input(source, con, mapping=parse_mapping({"options":
                                                               {"on_bad_value": "null"}}))
    assert summary.nulled_values == {"referrals": {"dob": 1}}
    assert con.sql("select count(*) - count(dob) from raw_referrals").fetchall() == [(1,)]


def test_a_future_optional_date_is_a_bad_value_like_an_unparsable_one(
        contract_rows, contract_write, con):
    # Typed-in birth dates a year off land in the future (the pseudopeople sample has 40).
    _referrals_with_dobs(contract_rows, 40, {3: "2999-01-01", 9: "not a date"})
    source = contract_write(contract_rows)
    with pytest.raises(ContractError) as err:
        load_input(source, con)
    assert {(e.column, e.rule) for e in err.value.violations} >= {("dob", "date in the future")}
    assert _raw_tables(con) == []
    summary = load_input(source, con, mapping=parse_mapping({"options":
                                                               {"on_bad_value": "null"}}))
    assert summary.nulled_values == {"referrals": {"dob": 2}}
    assert con.sql("select count(*) - count(dob), max(dob) < current_date "
                   "from raw_referrals").fetchall() == [(2, True)]


def test_the_bad_value_gate_counts_every_kind_of_bad_value_of_a_column(
        contract_rows, contract_write, con):
    # a third unparsable and a third in the future: two thirds bad, over a half
    _referrals_with_dobs(contract_rows, 3, {0: "not a date", 1: "2999-01-01"})
    mapping = parse_mapping({"options": {"on_bad_value": "null", "max_bad_share": 0.5}})
    with pytest.raises(ContractError) as err:
        load_input(contract_write(contract_rows), con, mapping=mapping)
    bad = [e for e in err.value.violations if e.rule == "too many bad values"]
    assert [(e.table, e.column, e.n_rows) for e in bad] == [("referrals", "dob", 2)]
    assert _raw_tables(con) == []


def test_null_policy_is_gated_and_never_nulls_a_required_value(contract_rows, contract_write,
                                                               con):
    for r in contract_rows["referrals"]:
        r["dob"] = "01/05/1990"  # every value bad: a wrong format, not noise
    contract_rows["case_outcomes"][0]["investigated"] = "maybe"
    mapping = parse_mapping({"options": {"on_bad_value": "null", "max_bad_share": 0.5}})
    with pytest.raises(ContractError) as err:
        load_input(contract_write(contract_rows), con, mapping=mapping)
    rules = {(e.table, e.column, e.rule) for e in err.value.violations}
    assert ("referrals", "dob", "too many bad values") in rules
    assert ("case_outcomes", "investigated", "unparsable value") in rules
    assert _raw_tables(con) == []


def test_a_bad_mapping_lists_every_problem(tmp_path):
    path = tmp_path / "map.toml"
    path.write_text('[referals.columns]\nlast_name = "surname"\n'
                    '[referrals.columns]\nlastname = "surname"\n'
                    '[referrals.formats]\noffense_type = "%Y"\n'
                    '[options]\non_bad_value = "skip"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    message = str(err.value)
    assert err.value.exit_code == 3 and "\n" not in message
    for part in ("referals: unknown section", "lastname: not a contract column of referrals;"
                 " did you mean 'last_name'?", "only date and timestamp columns",
                 "'skip' must be fail or null"):
        assert part in message, part
    with pytest.raises(ConfigError, match="mapping file not found"):
        load_mapping(tmp_path / "none.toml")


def test_a_close_name_without_a_mapping_is_refused(contract_rows, contract_write, con):
    _rename(contract_rows, "referrals", "last_name", "surname")
    with pytest.raises(ContractError) as err:
        load_input(contract_write(contract_rows), con)
    assert err.value.exit_code == 4
    assert (err.value.column, err.value.rule) == ("last_name", "column name mismatch")
    assert "did you mean 'last_name'? found 'surname'" in str(err.value)
    assert _raw_tables(con) == []


def test_a_mapped_column_missing_or_empty_is_refused(contract_rows, contract_write, con):
    _rename(contract_rows, "referrals", "last_name", "surname")
    for r in contract_rows["case_outcomes"]:
        r["family_name"] = ""
    mapping = parse_mapping({"referrals": {"columns": {"last_name": "surnme"}},
                             "case_outcomes": {"columns": {"email": "family_name"}}})
    with pytest.raises(ContractError) as err:
        load_input(contract_write(contract_rows), con, mapping=mapping)
    by_rule = {e.rule: e for e in err.value.violations}
    assert "did you mean 'surname'?" in str(by_rule["mapped column missing"])
    assert by_rule["empty column"].column == "email"
    assert _raw_tables(con) == []


def test_mapping_file_round_trip(tmp_path: Path):
    path = tmp_path / "map.toml"
    path.write_text('[referrals.columns]\nlast_name = "surname"\ndob = "birth_date"\n'
                    '[referrals.formats]\ndob = "%m/%d/%Y"\n'
                    '[case_outcomes.columns]\nlast_name = "family_name"\n'
                    '[options]\non_bad_value = "null"\n', encoding="utf-8")
    mapping = load_mapping(path)
    assert mapping.table("referrals").source("dob") == "birth_date"
    assert mapping.table("tips").source("tip_id") == "tip_id"
    assert (mapping.on_bad_value, mapping.path) == ("null", str(path))


@pytest.mark.slow  # two Splink trainings, about 40 s on 2 cores
def test_renamed_columns_through_a_mapping_give_the_same_links(tmp_path):
    """A held-out world's extract with agency-style names and US dates, mapped back, links
    exactly as the contract-named original does."""
    from linkage.db import connect, quote_literal
    from linkage.generation import generate, load_scenario
    from linkage.linking.run import link

    data, renamed = tmp_path / "data", tmp_path / "renamed"
    generate(load_scenario("sparse_identifiers", scale=0.0008, seed=11), data, fmt="csv")
    renamed.mkdir()
    scratch = duckdb.connect()
    edits = {"tips": "", "referrals": "rename (last_name as surname, dob as birth_date)",
             "case_outcomes": "rename (last_name as family_name)"}
    for table, rename in edits.items():
        src, dst = str(data / f"{table}.csv"), quote_literal(str(renamed / f"{table}.csv"))
        read = "select * from read_csv($p, all_varchar=true)"
        if rename:
            us_dob = "strftime(try_cast(dob as date), '%m/%d/%Y') as dob"
            read = f"select * {rename} from (select * replace ({us_dob}) from ({read}))"
        scratch.execute(f"copy ({read}) to {dst} (header)", {"p": src})
    scratch.close()
    mapping = parse_mapping({
        "referrals": {"columns": {"last_name": "surname", "dob": "birth_date"},
                      "formats": {"dob": "%m/%d/%Y"}},
        "case_outcomes": {"columns": {"last_name": "family_name"},
                          "formats": {"dob": "%m/%d/%Y"}}})
    links = []
    for source, used in ((data, None), (renamed, mapping)):
        with connect() as db:
            load_input(source, db, mapping=used)
            link(db)
            links.append(db.sql("select referral_id, case_id, match_probability from links "
                                "order by all").fetchall())
    original, mapped = links
    assert len(original) > 20
    assert [r[:2] for r in mapped] == [r[:2] for r in original]
    assert all(abs(a[2] - b[2]) < 1e-9 for a, b in zip(mapped, original, strict=True))
