"""Tests of the contract loader on tiny literal inputs written into tmp_path."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from linkage.contract import INPUT_TABLES, raw_table_name
from linkage.db import connect, table_exists
from linkage.errors import ContractError, OutputError
from linkage.ingest import LoadSummary, load_input, load_to_file, load_truth

Edit = Callable[[Path], None]


def _raw_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [raw_table_name(t) for t in INPUT_TABLES if table_exists(con, raw_table_name(t))]


def _types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    return {r[0]: r[1] for r in con.execute(f"describe {table}").fetchall()}


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = connect()
    yield connection
    connection.close()


# --- valid inputs -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet", "duckdb"])
def test_valid_input_loads_typed(fmt, contract_rows, contract_write, con):
    source = contract_write(contract_rows, fmt)
    summary = load_input(source, con)

    assert isinstance(summary, LoadSummary)
    assert summary.kind == fmt
    assert summary.row_counts == {"tips": 3, "referrals": 3, "case_outcomes": 2}
    assert summary.extra_columns == {"tips": ("note",)}
    assert summary.absent_columns == {}
    tips = _types(con, "raw_tips")
    assert (tips["tip_id"], tips["received_at"], tips["is_urgent"]) == (
        "VARCHAR",
        "TIMESTAMP",
        "BOOLEAN",
    )
    assert (tips["file_count"], tips["suspect_dob"]) == ("BIGINT", "DATE")
    cases = _types(con, "raw_case_outcomes")
    assert (cases["opened_at"], cases["investigated"]) == ("DATE", "BOOLEAN")
    assert _types(con, "raw_referrals")["priority"] == "BIGINT"
    rows = con.execute(
        "select tip_id, is_urgent, file_count, reporter_name, suspect_email, note,"
        " strftime(received_at, '%H:%M') from raw_tips order by tip_id"
    ).fetchall()
    assert rows == [
        ("T1", True, 2, "MailCo", None, "extra", "10:00"),
        ("T2", False, None, "MailCo", None, "extra", "11:30"),
        ("T3", False, 2, None, None, "extra", "09:00"),
    ]
    # 'yes' parses as true; stages out of order are not a load error.
    assert con.execute(
        "select count(*) from raw_case_outcomes where investigated and arrested_at < opened_at"
    ).fetchall() == [(1,)]


@pytest.mark.parametrize("fmt", ["csv", "parquet", "duckdb"])
def test_paths_with_quotes_and_spaces(fmt, contract_rows, contract_write, con):
    source = contract_write(contract_rows, fmt, name='it\'s a "study" folder')
    assert load_input(source, con).row_counts["case_outcomes"] == 2


def test_user_tables_with_scratch_names_survive(contract_rows, contract_write, con):
    con.execute("create table _src_tips as select 'mine' as v")
    con.execute("create table _load_rejects as select 'mine' as v")
    load_input(contract_write(contract_rows, "parquet"), con)
    assert con.execute("select v from main._src_tips").fetchall() == [("mine",)]
    assert con.execute("select v from main._load_rejects").fetchall() == [("mine",)]
    scratch = "select count(*) from duckdb_tables() where temporary"
    assert con.execute(scratch).fetchall() == [(0,)]


def test_summary_hashes_each_input_file(contract_rows, contract_write, con):
    source = contract_write(contract_rows, "csv")
    summary = load_input(source, con)
    for table, path in summary.files.items():
        assert path == str(source / f"{table}.csv")
        assert summary.sha256[path] == hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("TRUE", True), ("f", False), ("Yes", True), ("NO", False), ("1", True), ("0", False)],
)
def test_boolean_spellings(text, expected, contract_rows, contract_write, con):
    contract_rows["tips"][0]["is_urgent"] = text
    load_input(contract_write(contract_rows), con)
    got = con.execute("select is_urgent from raw_tips where tip_id = 'T1'").fetchall()
    assert got == [(expected,)]


@pytest.mark.parametrize(
    "tip_id",
    ["x'); drop table tips; --", 'he said "hi", then; left', "Robert'); DROP TABLE raw_tips;--"],
)
def test_sql_looking_ids_are_data(tip_id, contract_rows, contract_write, con):
    contract_rows["tips"][0]["tip_id"] = tip_id
    contract_rows["referrals"][0]["tip_id"] = tip_id
    contract_rows["referrals"][1]["tip_id"] = tip_id
    summary = load_input(contract_write(contract_rows), con)
    assert summary.row_counts["tips"] == 3
    got = con.execute(
        "select count(*) from raw_referrals r join raw_tips t using (tip_id) where t.tip_id = $id",
        {"id": tip_id},
    ).fetchall()
    assert got == [(2,)]


def test_huge_identifier_field_loads(contract_rows, contract_write, con):
    huge = "x" * 1_000_000
    contract_rows["tips"][1]["suspect_email"] = huge
    contract_rows["case_outcomes"][0]["case_id"] = huge
    load_input(contract_write(contract_rows), con)
    assert con.execute("select max(length(suspect_email)) from raw_tips").fetchall() == [(10**6,)]
    assert con.execute("select max(length(case_id)) from raw_case_outcomes").fetchall() == [
        (10**6,)
    ]


def test_absent_optional_column_loads_as_null(contract_rows, contract_write, con):
    for row in contract_rows["referrals"]:
        del row["zip"]
    summary = load_input(contract_write(contract_rows), con)
    assert summary.absent_columns == {"referrals": ("zip",)}
    assert con.execute("select count(zip) from raw_referrals").fetchall() == [(0,)]


def test_excel_style_csv_with_bom_and_crlf(contract_rows, contract_write, con):
    folder = contract_write(contract_rows)
    for path in folder.iterdir():
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    summary = load_input(folder, con)
    assert summary.row_counts == {"tips": 3, "referrals": 3, "case_outcomes": 2}
    got = con.execute("select max(tip_id), max(note) from raw_tips").fetchall()
    assert got == [("T3", "extra")]


def test_typed_parquet_values_are_checked(contract_rows, contract_write, con):
    folder = contract_write(contract_rows, "parquet")
    tips = str(folder / "tips.parquet")
    con.execute(
        "create table t as select * replace ("
        " case when tip_id = 'T2' then 2.5 else file_count end as file_count,"
        " cast(received_at as varchar) as received_at) from read_parquet($p)",
        {"p": tips},
    )
    con.execute("update t set received_at = 'not a time' where tip_id = 'T3'")
    con.sql("select * from t").write_parquet(tips)
    con.execute("drop table t")
    with pytest.raises(ContractError) as info:
        load_input(folder, con)
    lines = str(info.value).splitlines()
    assert lines[0].startswith("2 contract violations")
    assert f"{tips}: table tips, column received_at: unparsable value" in lines[1]
    assert f"{tips}: table tips, column file_count: unparsable value" in lines[2]
    assert _raw_tables(con) == []


def test_progress_is_reported(contract_rows, contract_write, con):
    calls = []
    load_input(contract_write(contract_rows), con, on_progress=lambda *a: calls.append(a))
    assert [fraction for _, fraction in calls] == [0.25, 0.5, 0.75, 1.0]
    assert calls[0][0] == "read tips"


def test_logs_carry_no_values(contract_rows, contract_write, con, caplog):
    secret = "secret-person@example.org"
    contract_rows["tips"][0]["suspect_email"] = secret
    contract_rows["referrals"][0]["tip_id"] = secret  # orphan: a violation
    for row in contract_rows["case_outcomes"]:
        del row["zip"]  # absent optional column: a warning
    with caplog.at_level("DEBUG", logger="linkage"), pytest.raises(ContractError) as info:
        load_input(contract_write(contract_rows), con)
    assert "orphan tip_id" in str(info.value) and secret not in str(info.value)
    assert caplog.records and secret not in caplog.text


# --- violations ---------------------------------------------------------------------------


def _set(table: str, index: int, **values: str) -> Callable[[dict], None]:
    def edit(rows: dict) -> None:
        rows[table][index].update(values)

    return edit


def _drop(table: str, column: str) -> Callable[[dict], None]:
    def edit(rows: dict) -> None:
        for row in rows[table]:
            del row[column]

    return edit


def _file(table: str, change: Callable[[bytes], bytes], suffix: str = ".csv") -> Edit:
    def edit(folder: Path) -> None:
        path = folder / f"{table}.csv"
        data = change(path.read_bytes())
        path.unlink()
        (folder / f"{table}{suffix}").write_bytes(data)

    return edit


def _header_only(data: bytes) -> bytes:
    return data.split(b"\n", 1)[0] + b"\n"


# id, rows edit, file edit, table, file name (None: the folder), rule, column, n_rows, hint
VIOLATIONS = [
    ("missing-file", None, lambda f: (f / "case_outcomes.csv").unlink(), "case_outcomes",
     None, "missing table", None, None, "no case_outcomes.csv"),
    ("ambiguous", None, lambda f: shutil.copy(f / "tips.csv", f / "tips.parquet"), "tips",
     "tips.csv", "ambiguous", None, None, ".parquet"),
    ("missing-column", _drop("tips", "incident_type"), None, "tips", "tips.csv",
     "missing required column", "incident_type", 3, "incident_type"),
    ("bad-timestamp", _set("tips", 1, received_at="yesterday"), None, "tips", "tips.csv",
     "unparsable value", "received_at", 1, "TIMESTAMP"),
    ("bad-date", _set("case_outcomes", 0, opened_at="2024-13-45"), None, "case_outcomes",
     "case_outcomes.csv", "unparsable value", "opened_at", 1, "DATE"),
    ("bad-boolean", _set("tips", 2, is_urgent="maybe"), None, "tips", "tips.csv",
     "unparsable value", "is_urgent", 1, "BOOLEAN"),
    ("bad-integer", _set("tips", 0, file_count="2.5"), None, "tips", "tips.csv",
     "unparsable value", "file_count", 1, "BIGINT"),
    ("required-empty", _set("referrals", 2, agency_id="   "), None, "referrals",
     "referrals.csv", "required value null", "agency_id", 1, "null"),
    ("duplicate-key", _set("case_outcomes", 1, case_id="C1"), None, "case_outcomes",
     "case_outcomes.csv", "duplicate key", "case_id", 2, "share"),
    ("orphan", _set("referrals", 1, tip_id="T9"), None, "referrals", "referrals.csv",
     "orphan tip_id", "tip_id", 1, "not found in tips"),
    ("referred-early", _set("referrals", 0, referred_at="2023-12-31 00:00:00"), None,
     "referrals", "referrals.csv", "referred before received", "referred_at", 1, "before"),
    ("negative-count", _set("tips", 0, file_count="-3"), None, "tips", "tips.csv",
     "negative value", "file_count", 1, "minimum 0"),
    ("header-only", None, _file("case_outcomes", _header_only), "case_outcomes",
     "case_outcomes.csv", "empty table", None, 0, "no data rows"),
    ("zero-bytes", None, _file("referrals", lambda d: b""), "referrals", "referrals.csv",
     "empty table", None, 0, "0 bytes"),
    ("latin-1", None, _file("case_outcomes", lambda d: d.replace(b"Fresno", b"Fr\xe9sno", 1)),
     "case_outcomes", "case_outcomes.csv", "encoding", None, 1, "UTF-8"),
    ("utf-16", None, _file("tips", lambda d: d.decode().encode("utf-16")), "tips", "tips.csv",
     "encoding", None, 4, "UTF-8"),
    ("semicolons", None, _file("referrals", lambda d: d.replace(b",", b";")), "referrals",
     "referrals.csv", "missing required column", "referral_id", 3, "looks like ';'"),
    ("ragged-row", None, _file("referrals", lambda d: d + b"R4,T1,extra,fields\n"),
     "referrals", "referrals.csv", "malformed row", None, 1, "number of fields"),
    ("corrupt-parquet", None, _file("tips", lambda d: b"PAR1 not really", ".parquet"), "tips",
     "tips.parquet", "unreadable file", None, None, "parquet"),
    ("column-case", None, _file("referrals", lambda d: d.replace(
        b"zip", b"ZIP")), "referrals", "referrals.csv", "column name case", "zip", None, "'ZIP'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rows_edit", "file_edit", "table", "file", "rule", "column", "n_rows", "hint"),
    [pytest.param(*case[1:], id=case[0]) for case in VIOLATIONS],
)
def test_violation_stops_load(
    rows_edit, file_edit, table, file, rule, column, n_rows, hint, contract_rows,
    contract_write, con,
):  # fmt: skip
    if rows_edit:
        rows_edit(contract_rows)
    folder = contract_write(contract_rows)
    if file_edit:
        file_edit(folder)
    expected_file = str(folder / file) if file else str(folder)

    with pytest.raises(ContractError) as info:
        load_input(folder, con)

    err = info.value
    assert (err.table, err.rule, err.column, err.n_rows) == (table, rule, column, n_rows)
    assert err.file == expected_file
    message = str(err)
    assert len(message.splitlines()) == 1, message  # exactly this violation, no noise
    assert message.startswith(f"{expected_file}: table {table}")
    assert f": {rule}: " in message and hint in message
    if column:
        assert f"column {column}" in message
    if n_rows is not None:
        assert f"({n_rows:,} row(s))" in message
    assert _raw_tables(con) == []


def test_unreadable_csv_is_a_contract_error(contract_rows, contract_write, con, monkeypatch):
    folder = contract_write(contract_rows)
    real_open = open

    def deny(path, *args, **kwargs):  # as chmod 000 would (the tests may run as root)
        if str(path).endswith("tips.csv"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", deny)
    with pytest.raises(ContractError, match="unreadable file: cannot read the file") as info:
        load_input(folder, con)
    assert info.value.file == str(folder / "tips.csv") and "Permission denied" in str(info.value)
    assert _raw_tables(con) == []


def test_every_violation_is_reported_at_once(contract_rows, contract_write, con):
    _set("tips", 1, received_at="soon", is_urgent="")(contract_rows)
    _set("referrals", 2, referral_id="R1")(contract_rows)
    _set("case_outcomes", 0, investigated="perhaps")(contract_rows)

    with pytest.raises(ContractError) as info:
        load_input(contract_write(contract_rows), con)

    lines = str(info.value).splitlines()
    assert lines[0].startswith("4 contract violations; first: ")
    assert [line.split(": ")[2] for line in lines[1:]] == [
        "unparsable value",  # tips.received_at
        "required value null",  # tips.is_urgent
        "duplicate key",  # referrals.referral_id
        "unparsable value",  # case_outcomes.investigated
    ]
    assert (info.value.table, info.value.column, info.value.n_rows) == ("tips", "received_at", 1)
    assert _raw_tables(con) == []


def test_failed_load_keeps_previous_tables(contract_rows, contract_write, con):
    load_input(contract_write(contract_rows, name="good"), con)
    contract_rows["tips"].pop()  # T3 is referred: its referral becomes an orphan
    contract_rows["case_outcomes"].append(dict(contract_rows["case_outcomes"][0]))
    with pytest.raises(ContractError):
        load_input(contract_write(contract_rows, name="bad"), con)
    counts = con.execute(
        "select (select count(*) from raw_tips), (select count(*) from raw_case_outcomes)"
    ).fetchall()
    assert counts == [(3, 2)]


def test_missing_source_is_a_contract_error(tmp_path, con):
    with pytest.raises(ContractError, match="missing input") as info:
        load_input(tmp_path / "nowhere", con)
    assert str(tmp_path / "nowhere") in str(info.value)


def test_duckdb_source_is_not_modified(contract_rows, contract_write, con):
    db_file = contract_write(contract_rows, "duckdb")
    before = hashlib.sha256(db_file.read_bytes()).hexdigest()
    summary = load_input(db_file, con)
    assert summary.files == {t.name: str(db_file) for t in INPUT_TABLES}
    assert hashlib.sha256(db_file.read_bytes()).hexdigest() == before
    attached = con.execute("select database_name from duckdb_databases() where not internal")
    assert attached.fetchall() == [("memory",)]  # the input was detached again


def test_duckdb_source_missing_table(contract_rows, contract_write, con):
    db_file = contract_write({"tips": contract_rows["tips"]}, "duckdb")
    with pytest.raises(ContractError) as info:
        load_input(db_file, con)
    lines = str(info.value).splitlines()
    assert info.value.rule == "missing table" and info.value.table == "referrals"
    assert "case_outcomes" in lines[-1] and info.value.file == str(db_file)
    assert _raw_tables(con) == []


def test_unreadable_duckdb_file(tmp_path, con):
    bad = tmp_path / "input.duckdb"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ContractError) as info:
        load_input(bad, con)
    assert (info.value.rule, info.value.table, info.value.file) == (
        "unreadable file",
        "tips",
        str(bad),
    )
    assert str(info.value).startswith("3 contract violations")
    assert _raw_tables(con) == []


# --- load_to_file -------------------------------------------------------------------------


def test_load_to_file_writes_and_guards_existing(contract_rows, contract_write, tmp_path):
    source, db = contract_write(contract_rows), tmp_path / "study.duckdb"
    summary = load_to_file(source, db)
    assert summary.row_counts["referrals"] == 3
    with duckdb.connect(str(db), read_only=True) as check:
        assert check.execute("select count(*) from raw_referrals").fetchall() == [(3,)]
    with pytest.raises(OutputError, match="raw_tips"):
        load_to_file(source, db)
    assert load_to_file(source, db, overwrite=True).row_counts["tips"] == 3


@pytest.mark.parametrize("case", [case[0] for case in VIOLATIONS])
def test_failed_load_to_file_leaves_no_file(case, contract_rows, contract_write, tmp_path):
    _, rows_edit, file_edit, _, _, rule, *_ = next(c for c in VIOLATIONS if c[0] == case)
    if rows_edit:
        rows_edit(contract_rows)
    folder = contract_write(contract_rows)
    if file_edit:
        file_edit(folder)
    db = tmp_path / "out" / "study.duckdb"
    db.parent.mkdir()
    with pytest.raises(ContractError) as info:
        load_to_file(folder, db)
    assert info.value.rule == rule
    assert list(db.parent.iterdir()) == []  # no database, no .wal


def test_failed_load_to_existing_file_keeps_it(contract_rows, contract_write, tmp_path):
    db = tmp_path / "study.duckdb"
    load_to_file(contract_write(contract_rows, name="good"), db)
    contract_rows["tips"][0]["file_count"] = "-1"
    with pytest.raises(ContractError, match="negative value"):
        load_to_file(contract_write(contract_rows, name="bad"), db, overwrite=True)
    with duckdb.connect(str(db), read_only=True) as check:
        assert check.execute("select min(file_count) from raw_tips").fetchall() == [(2,)]


def test_load_to_file_refuses_bad_targets(contract_rows, contract_write, tmp_path):
    source = contract_write(contract_rows)
    not_a_db = tmp_path / "notes.duckdb"
    not_a_db.write_text("my notes")
    with pytest.raises(OutputError, match="cannot open"):
        load_to_file(source, not_a_db)
    assert not_a_db.read_text() == "my notes"
    with pytest.raises(OutputError, match="does not exist"):
        load_to_file(source, tmp_path / "missing" / "study.duckdb")
    assert not (tmp_path / "missing").exists()


# --- load_truth ---------------------------------------------------------------------------


def test_load_truth_csv_and_parquet(tmp_path, con):
    (tmp_path / "truth_links.csv").write_text("referral_id,case_id\n007,42\n008,43\n")
    con.sql("select '007' as referral_id, true as is_linked").write_parquet(
        str(tmp_path / "truth_referrals.parquet")
    )
    assert load_truth(tmp_path, con) == ["truth_links", "truth_referrals"]
    assert con.execute("select * from truth_links order by 1").fetchall() == [
        ("007", "42"),
        ("008", "43"),
    ]
    assert _types(con, "truth_referrals") == {"referral_id": "VARCHAR", "is_linked": "BOOLEAN"}


def test_load_truth_absent_and_ambiguous(tmp_path, con):
    assert load_truth(tmp_path, con) == []
    (tmp_path / "truth_links.csv").write_text("referral_id,case_id\nR1,C1\n")
    (tmp_path / "truth_links.parquet").write_bytes(b"")
    with pytest.raises(ContractError, match="ambiguous"):
        load_truth(tmp_path, con)
    assert not table_exists(con, "truth_links")


def test_load_truth_needs_link_columns(tmp_path, con):
    (tmp_path / "truth_referrals.csv").write_text("referral_id,is_linked\nR1,true\n")
    (tmp_path / "truth_links.csv").write_text("referral_id,case\nR1,C1\n")
    with pytest.raises(ContractError) as info:
        load_truth(tmp_path, con)
    assert (info.value.rule, info.value.column) == ("missing required column", "case_id")
    assert not table_exists(con, "truth_links") and not table_exists(con, "truth_referrals")
