"""The bad-input matrix: one corrupted input per rule, through the
command line (`linkage load`, `linkage validate`, `linkage run --input`).

Each row of ``MATRIX`` names a corruption, the exit code of each command and the one line
the user sees. Every command must print exactly that line (naming file, table, column,
rule and row count), exit with that code, show no traceback and leave no partial output:
a new database file is not created, an existing one keeps its bytes, the output folder of
`run` is not created or keeps its files, and `validate --json` holds a complete report.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result

from linkage.cli import main
from linkage.errors import DataQualityError
from linkage.ingest.mapping import IDENTIFIERS
from linkage.outputs import MARKER

Rows = dict[str, list[dict[str, str]]]
SQL_IDS = ["x'); drop table raw_tips; --", 'he said "hi", then; left']
HUGE = 1_000_000  # bytes in one field: loads (the reader's line limit is 2,000,000)


def _set(table: str, index: int, **values: str) -> Callable[[Rows], None]:
    def edit(rows: Rows) -> None:
        rows[table][index].update(values)

    return edit


def _drop(table: str, column: str) -> Callable[[Rows], None]:
    def edit(rows: Rows) -> None:
        for row in rows[table]:
            del row[column]

    return edit


def _rename(table: str, old: str, new: str) -> Callable[[Rows], None]:
    def edit(rows: Rows) -> None:
        rows[table] = [{(new if k == old else k): v for k, v in r.items()} for r in rows[table]]

    return edit


def _blank(table: str, *keep: str) -> Callable[[Rows], None]:
    """Empty every subject identifier of ``table`` except ``keep``."""
    def edit(rows: Rows) -> None:
        for row in rows[table]:
            row.update({c: "" for c in IDENTIFIERS if c in row and c not in keep})

    return edit


def _disjoint(rows: Rows) -> None:
    """Referrals hold only e-mails, case records only phones: nothing to compare."""
    _blank("referrals", "email")(rows)
    _blank("case_outcomes")(rows)
    for row in rows["case_outcomes"]:
        row["phone"] = "559-555-0100"


def _sql_ids(rows: Rows) -> None:
    for i, tip_id in enumerate(SQL_IDS):
        rows["tips"][i]["tip_id"] = tip_id
    rows["referrals"][0]["tip_id"] = rows["referrals"][1]["tip_id"] = SQL_IDS[0]
    rows["referrals"][2]["tip_id"] = rows["tips"][2]["tip_id"]
    rows["referrals"][2]["referral_id"] = SQL_IDS[1]


def _zones(rows: Rows) -> None:
    rows["tips"][0]["received_at"] = "2024-01-01T15:00:00Z"
    rows["referrals"][0]["referred_at"] = "2024-01-01 10:00:00-05:00"
    rows["referrals"][1]["referred_at"] = "2024-01-06 08:00:00+02:00"


def _rewrite(table: str, change: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        path = folder / f"{table}.csv"
        path.write_bytes(change(path.read_bytes()))

    return edit


def _to_parquet(table: str, sql: str) -> Callable[[Path], None]:
    """Replace a CSV by a Parquet file of ``sql`` over it (``t``: the CSV as read)."""

    def edit(folder: Path) -> None:
        csv, parquet = folder / f"{table}.csv", folder / f"{table}.parquet"
        with duckdb.connect() as con:
            con.execute("create table t as select * from read_csv($p)", {"p": str(csv)})
            con.sql(sql).write_parquet(str(parquet))
        csv.unlink()

    return edit


def _long_line(data: bytes) -> bytes:
    header, first, rest = data.split(b"\n", 2)
    return b"\n".join([header, first.replace(b"MailCo", b"M" * 3_000_000, 1), rest])


@dataclass(frozen=True)
class Case:
    """One corrupted input and what each command must answer.

    ``line`` is the one line expected from every command that fails (``{dir}`` is the input
    folder); ``load``, ``validate`` and ``run`` are exit codes (None: not run for this case).
    """

    rows: Callable[[Rows], None] | None
    files: Callable[[Path], None] | None
    load: int
    validate: int
    run: int | None
    line: str


MATRIX: dict[str, Case] = {
    "missing-column": Case(_drop("tips", "incident_type"), None, 4, 4, 4,
        "{dir}/tips.csv: table tips, column incident_type: missing required column: "
        "missing required column(s): incident_type (3 row(s))"),
    "wrong-type": Case(_set("tips", 2, is_urgent="maybe"), None, 4, 4, 4,
        "{dir}/tips.csv: table tips, column is_urgent: unparsable value: value(s) not parsable "
        "as BOOLEAN (1 row(s))"),
    "wrong-type-parquet": Case(None, _to_parquet("tips", "select * replace "
        "(epoch(received_at::timestamp)::bigint as received_at) from t"), 4, 4, 4,
        "{dir}/tips.parquet: table tips, column received_at: unparsable value: value(s) not "
        "parsable as TIMESTAMP (3 row(s))"),
    "not-an-integer": Case(_set("tips", 0, file_count="2.5"), None, 4, 4, 4,
        "{dir}/tips.csv: table tips, column file_count: unparsable value: value(s) not "
        "parsable as BIGINT (1 row(s))"),
    "unparsable-date": Case(_set("case_outcomes", 0, opened_at="2024-13-45"), None, 4, 4, 4,
        "{dir}/case_outcomes.csv: table case_outcomes, column opened_at: unparsable value: "
        "value(s) not parsable as DATE (1 row(s))"),
    "duplicate-id": Case(_set("referrals", 2, referral_id="R1"), None, 4, 4, 4,
        "{dir}/referrals.csv: table referrals, column referral_id: duplicate key: rows share "
        "a key value (2 row(s))"),
    "orphan-tip-id": Case(_set("referrals", 1, tip_id="T9"), None, 4, 4, 4,
        "{dir}/referrals.csv: table referrals, column tip_id: orphan tip_id: tip_id not found "
        "in tips (1 row(s))"),
    "referral-before-tip": Case(_set("referrals", 0, referred_at="2023-12-31 00:00:00"), None,
        4, 4, 4, "{dir}/referrals.csv: table referrals, column referred_at: referred before "
        "received: referred_at is before the tip's received_at (1 row(s))"),
    # not a contract violation: the gates quarantine such rows within a tolerance (1% here;
    # one of two cases is 50%) and the validate command warns
    "stage-dates-out-of-order": Case(_set("case_outcomes", 1, arrested_at="2023-12-01"), None,
        0, 0, 5, "table raw_case_outcomes: stage dates out of order in 1 of 2 rows (50.00%), "
        "above the tolerance of 1.00%: arrested_at before opened_at: 1"),
    "empty-file": Case(None, _rewrite("referrals", lambda d: b""), 4, 4, 4,
        "{dir}/referrals.csv: table referrals: empty table: file is empty (0 bytes) "
        "(0 row(s))"),
    "header-only": Case(None, _rewrite("case_outcomes", lambda d: d.split(b"\n")[0] + b"\n"),
        4, 4, 4, "{dir}/case_outcomes.csv: table case_outcomes: empty table: no data rows "
        "(0 row(s))"),
    "semicolon-delimiter": Case(None, _rewrite("referrals", lambda d: d.replace(b",", b";")),
        4, 4, 4, "{dir}/referrals.csv: table referrals, column referral_id: missing required "
        "column: missing required column(s): referral_id, tip_id, referred_at, agency_id, "
        "offense_type; the delimiter looks like ';' (the contract's CSV uses ',') (3 row(s))"),
    "non-utf8-bytes": Case(None, _rewrite("case_outcomes", lambda d: d.replace(
        b"Fresno", b"Fr\xe9sno", 1)), 4, 4, 4, "{dir}/case_outcomes.csv: table case_outcomes: "
        "encoding: file is not UTF-8 encoded (count of lines); re-save it as UTF-8 "
        "(1 row(s))"),
    "ragged-row": Case(None, _rewrite("referrals", lambda d: d + b"R4,T1,extra,fields\n"),
        4, 4, 4, "{dir}/referrals.csv: table referrals: malformed row: row(s) with the wrong "
        "number of fields or broken quoting (1 row(s))"),
    "missing-file": Case(None, lambda f: (f / "case_outcomes.csv").unlink(), 4, 4, 4,
        "{dir}: table case_outcomes: missing table: no case_outcomes.csv or "
        "case_outcomes.parquet in {dir}"),
    "huge-line": Case(None, _rewrite("tips", _long_line), 4, 4, 4,
        "{dir}/tips.csv: table tips: line too long: line(s) longer than 2,000,000 bytes "
        "(a huge field?) (1 row(s))"),
    # a contract column absent while a close name is present: a renamed column
    "close-column-name": Case(_rename("referrals", "last_name", "surname"), None, 4, 4, 4,
        "{dir}/referrals.csv: table referrals, column last_name: column name mismatch: absent;"
        " did you mean 'last_name'? found 'surname' (rename it, or map it in a --mapping "
        "file)"),
    # loads (a blank column is data), but linkage has nothing to compare: refused before it
    "empty-identifiers": Case(_blank("case_outcomes"), None, 0, 0, 4,
        "table case_outcomes: no identifiers: every identifier column (first_name, "
        "last_name, dob, email, phone, username, city, state, zip) is empty or absent: there "
        "is nothing to link on"),
    "no-shared-identifier": Case(_disjoint, None, 0, 0, 4,
        "table referrals: nothing to compare: no identifier is held on both sides, so no case "
        "can match a referral (referrals hold email; case records hold phone); map a shared "
        "column with --mapping"),
    # accepted: data, not SQL; a big field within the limit is carried as is
    "duplicated-column": Case(None, _rewrite("referrals", lambda d: d.replace(
        b",phone,", b",email,", 1)), 4, 4, 4, "{dir}/referrals.csv: table referrals, column "
        "email: duplicated column: column name(s) given more than once: email"),
    "future-date": Case(_set("referrals", 1, referred_at="2999-01-06 08:00:00"), None, 4, 4, 4,
        "{dir}/referrals.csv: table referrals, column referred_at: date in the future: "
        "date(s) after today: an extract holds no future dates (1 row(s))"),
    # Offsets are converted to UTC: the same instant in two zones is in order.
    "time-zone-offsets": Case(_zones, None, 0, 0, None, ""),
    "quotes-and-sql-in-ids": Case(_sql_ids, None, 0, 0, None, ""),
    "huge-field": Case(_set("tips", 1, suspect_email="x" * HUGE), None, 0, 0, None, ""),
}  # fmt: skip


@pytest.fixture
def clean_rows(contract_rows: Rows) -> Rows:
    """The loader fixture's rows with its one finding (stages out of order) removed."""
    contract_rows["case_outcomes"][1]["arrested_at"] = ""
    return contract_rows


@pytest.fixture
def good_db(clean_rows: Rows, contract_write, tmp_path: Path) -> Path:
    """A study database loaded from clean input, to load the bad input over."""
    db = tmp_path / "existing" / "study.duckdb"
    db.parent.mkdir()
    folder = contract_write(clean_rows, name="clean")
    result = CliRunner().invoke(main, ["--quiet", "load", "--input", str(folder), "--db",
                                       str(db)])  # fmt: skip
    assert result.exit_code == 0, result.output
    return db


def _input(case: Case, rows: Rows, contract_write) -> Path:
    if case.rows:
        case.rows(rows)
    folder = contract_write(rows, name="bad")
    if case.files:
        case.files(folder)
    return folder


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): _sha(p) for p in folder.rglob("*") if p.is_file()}


def _check(result: Result, code: int, line: str | None) -> None:
    """Exit code, no traceback, and (when failing) exactly the expected one-line error."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output
    if code and line is not None:
        assert result.stderr.splitlines() == [f"error: {line}"]


@pytest.mark.parametrize("name", list(MATRIX))
def test_load(name, clean_rows, contract_write, good_db, tmp_path):
    case = MATRIX[name]
    folder = _input(case, clean_rows, contract_write)
    line = case.line.replace("{dir}", str(folder))
    new_db = tmp_path / "new" / "study.duckdb"
    new_db.parent.mkdir()
    result = CliRunner().invoke(main, ["load", "--input", str(folder), "--db", str(new_db)])
    _check(result, case.load, line)
    if case.load:
        assert list(new_db.parent.iterdir()) == []  # no database, no .wal
    else:
        assert result.stdout.startswith("loaded 3 tips, 3 referrals, 2 case_outcomes into ")
        _check_loaded(name, new_db)
    before = _sha(good_db)
    again = CliRunner().invoke(main, ["--quiet", "load", "--input", str(folder), "--db",
                                      str(good_db), "--overwrite"])  # fmt: skip
    _check(again, case.load, line)
    if case.load:
        assert _sha(good_db) == before
        assert sorted(p.name for p in good_db.parent.iterdir()) == ["study.duckdb"]


def _check_loaded(name: str, db: Path) -> None:
    """The accepted corruptions arrive intact."""
    with duckdb.connect(str(db), read_only=True) as con:
        if name == "quotes-and-sql-in-ids":
            got = con.execute("select count(*) from raw_referrals r join raw_tips t using"
                              " (tip_id) where t.tip_id = $id", {"id": SQL_IDS[0]}).fetchall()
            assert got == [(2,)]
            assert con.execute("select count(*) from raw_referrals where referral_id = $id",
                               {"id": SQL_IDS[1]}).fetchall() == [(1,)]  # fmt: skip
        if name == "time-zone-offsets":
            got = con.sql("select referral_id, strftime(referred_at, '%Y-%m-%d %H:%M') from "
                          "raw_referrals order by 1").fetchall()
            assert got[:2] == [("R1", "2024-01-01 15:00"), ("R2", "2024-01-06 06:00")]
        if name == "huge-field":
            got = con.execute("select max(length(suspect_email)) from raw_tips").fetchall()
            assert got == [(HUGE,)]


@pytest.mark.parametrize("name", list(MATRIX))
def test_validate(name, clean_rows, contract_write, tmp_path):
    case = MATRIX[name]
    folder = _input(case, clean_rows, contract_write)
    line = case.line.replace("{dir}", str(folder))
    out = tmp_path / "reports"
    result = CliRunner().invoke(main, ["validate", "--input", str(folder), "--json",
                                       str(out / "dq.json")])  # fmt: skip
    _check(result, case.validate, line)
    report = json.loads((out / "dq.json").read_text())  # complete, also on a violation
    assert sorted(p.name for p in out.iterdir()) == ["dq.json"]
    assert report["success"] is (case.validate == 0)
    if case.validate == 4:
        assert result.stdout == ""
        assert report["contract_violations"][0]["message"] == line
        assert report["suites"] == []
    else:
        assert result.stdout.splitlines()[-1].startswith("3 passed, 0 failed")
    if name == "stage-dates-out-of-order":
        assert ("[WARN] table raw_case_outcomes, column arrested_at,opened_at: "
                "expect_column_pair_values_a_to_be_greater_than_b [arrested_at not before "
                "opened_at (rows out of order are quarantined)]: 1 unexpected (50.00%)"
                ) in result.stdout.splitlines()  # fmt: skip


RUN_CASES = [name for name, case in MATRIX.items() if case.run is not None]


@pytest.mark.parametrize("name", RUN_CASES)
def test_run(name, clean_rows, contract_write, tmp_path):
    case = MATRIX[name]
    folder = _input(case, clean_rows, contract_write)
    line = case.line.replace("{dir}", str(folder))
    fresh = tmp_path / "fresh"
    result = CliRunner().invoke(main, ["--quiet", "run", "--input", str(folder), "--out",
                                       str(fresh)])  # fmt: skip
    _check(result, case.run, line)
    assert not fresh.exists()
    previous = tmp_path / "previous"
    previous.mkdir()
    (previous / MARKER).write_text("")  # an earlier study the toolkit wrote
    (previous / "report.md").write_text("an earlier study")
    before = _tree(previous)
    again = CliRunner().invoke(main, ["--quiet", "run", "--input", str(folder), "--out",
                                      str(previous)])  # fmt: skip
    _check(again, case.run, line)
    assert _tree(previous) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_the_matrix_covers_the_issue_list() -> None:
    # the issue's bad inputs, each mapped to a row above
    issue = ["missing-column", "wrong-type", "unparsable-date", "duplicate-id", "orphan-tip-id",
             "referral-before-tip", "stage-dates-out-of-order", "empty-file",
             "semicolon-delimiter", "non-utf8-bytes", "quotes-and-sql-in-ids", "huge-field"]
    assert set(issue) <= set(MATRIX)
    # every rejected input also goes through `linkage run --input`
    assert [n for n in MATRIX if MATRIX[n].load and MATRIX[n].run is None] == []



@pytest.mark.slow
def test_run_carries_quotes_and_sql_in_ids_end_to_end(tmp_path: Path) -> None:
    # The tiny fixture cannot be linked, so this one takes a small generated study.
    data, out = tmp_path / "data", tmp_path / "out"
    made = CliRunner().invoke(main, ["--quiet", "generate", "--scale", "0.0005", "--seed", "5",
                                     "--out", str(data), "--format", "csv"])  # fmt: skip
    assert made.exit_code == 0, made.output
    shutil.rmtree(data / "truth")  # a user's own data has none
    suffix = SQL_IDS[0] + '"x"'
    ids = {"tips": ["tip_id"], "referrals": ["tip_id", "referral_id"],
           "case_outcomes": ["cybertip_ref", "case_id"]}  # fmt: skip
    with duckdb.connect() as con:
        for table, columns in ids.items():
            path = str(data / f"{table}.csv")
            change = ", ".join(f"{c} || $s as {c}" for c in columns)
            con.execute(f"create table {table} as select * replace ({change}) from"
                        " read_csv($p, all_varchar=true)", {"s": suffix, "p": path})
            con.table(table).write_csv(path)
    result = CliRunner().invoke(main, ["--quiet", "run", "--input", str(data), "--out",
                                       str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert all(v["success"] for v in manifest["data_quality"].values())
    with duckdb.connect(str(out / "study.duckdb"), read_only=True) as con:
        odd = "select count(*) from {} where ends_with({}, $s)"
        assert con.execute(odd.format("raw_tips", "tip_id"), {"s": suffix}).fetchall() == [
            (manifest["row_counts"]["raw_tips"],)]  # fmt: skip
        assert con.execute(odd.format("links", "case_id"), {"s": suffix}).fetchall()[0][0] > 0


def test_quarantine_tolerance_is_configured(clean_rows, contract_write, tmp_path, monkeypatch):
    case = MATRIX["stage-dates-out-of-order"]
    folder = _input(case, clean_rows, contract_write)
    seen = []

    def fake_run_study(config, on_progress=None):
        seen.append(config.quarantine_tolerance)
        raise DataQualityError("stopped here")

    monkeypatch.setattr("linkage.study.run_study", fake_run_study)
    args = ["--quiet", "run", "--input", str(folder), "--out", str(tmp_path / "out")]
    assert CliRunner().invoke(main, [*args, "--quarantine-tolerance", "0.6"]).exit_code == 5
    assert seen == [0.6]
    wrong = CliRunner().invoke(main, [*args, "--quarantine-tolerance", "1.5"])
    assert wrong.exit_code == 2 and "1.5 is not in the range 0<=x<=1" in wrong.output


def test_a_present_but_empty_identifier_is_named_at_warning(caplog) -> None:
    """A column in the file with no value in any row is said (an export slip, most often),
    not refused: an agency that does not record e-mail is a valid extract."""
    import logging

    from linkage.db import connect
    from linkage.ingest import link_preflight

    con = connect()
    con.execute("create table raw_referrals as "
                "select 'a@x.org' as email, null::varchar as last_name")
    con.execute("create table raw_case_outcomes as select 'a@x.org' as email")
    with caplog.at_level(logging.WARNING, logger="linkage.ingest.preflight"):
        assert link_preflight(con).compared == ("email",)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == ["referrals: last_name present but empty in every row, so not compared "
                      "(check the export or --mapping; drop the column if the extract does "
                      "not record it)"]
    caplog.clear()
    con.execute("create or replace table raw_referrals as select 'a@x.org' as email")
    with caplog.at_level(logging.WARNING, logger="linkage.ingest.preflight"):
        link_preflight(con)
    assert [r for r in caplog.records if r.levelno == logging.WARNING] == []
