"""Every bad labels file gets its one-line message, exit code 10, and leaves the database as
it was; a good one replaces the labels before it."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from review_world import make_world

from linkage.cli import main
from linkage.db import connect
from linkage.errors import ReviewError
from linkage.review import draw_sample, import_labels, simulate_review

Rows = list[dict[str, str]]


@pytest.fixture(scope="module")
def answered(tmp_path_factory) -> tuple[Path, Path]:
    """A study with a drawn sample and imported labels; the answered file."""
    work = tmp_path_factory.mktemp("labels")
    db = work / "study.duckdb"
    with make_world(connect(db)) as con:
        draw_sample(con, 80, work / "sheet.csv", seed=7)
        simulate_review(con, work / "sheet.csv", work / "labels.csv", seed=7)
        import_labels(con, work / "labels.csv")
    return db, work / "labels.csv"


def _read(path: Path) -> Rows:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _write(path: Path, rows: Rows, columns: list[str] | None = None) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns or list(rows[0]), lineterminator="\n",
                               extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _first(rows: Rows, pred: Callable[[dict[str, str]], bool]) -> int:
    return next(i for i, r in enumerate(rows) if pred(r))


def _blank_case(rows: Rows) -> int:
    return _first(rows, lambda r: r["case_id"] == "")


def _match(rows: Rows) -> int:
    return _first(rows, lambda r: r["decision"] == "match" and r["case_id"] != "")


def _mutate(name: str, rows: Rows) -> int:
    """Break ``rows`` by rule ``name``; return the index of the row broken."""
    i = 3
    if name == "decision-required":
        rows[i]["decision"] = ""
    elif name == "decision-values":
        rows[i]["decision"] = "yes"
    elif name == "unknown-review-id":
        rows[i]["review_id"] = "RV999999"
    elif name == "unknown-referral-id":
        rows[i]["referral_id"] = "R9999"
    elif name == "unknown-case-id":
        rows[i]["case_id"] = "C9999"
    elif name == "edited-probability":
        rows[i]["inclusion_probability"] = "0.5"
    elif name == "edited-identifiers":
        rows[i]["referral_last_name"] = "someoneelse"
    elif name == "edited-case-identifiers":
        i = _match(rows)
        rows[i]["case_email"] = "other@example.org"
    elif name == "match-needs-case":
        i = _first(rows, lambda r: r["case_id"] == "")
        rows[i]["decision"] = "match"
    elif name == "duplicate-row":
        rows.insert(5, dict(rows[4]))
        i = 5
    elif name == "two-matches":
        j = _match(rows)
        extra = dict(rows[j], case_id="C0359", decision="match")
        rows.insert(j + 1, extra)
        i = j + 1
    return i


CASES = [
    ("decision-required", "decision is blank"),
    ("decision-values", "decision must be one of match, no_match, unsure"),
    ("unknown-review-id", "review_id is not one of the sample's"),
    ("unknown-referral-id", "referral_id is not the sampled referral"),
    ("unknown-case-id", "case_id is not a case record of the study"),
    ("edited-probability", "inclusion_probability differs from the sample's"),
    ("edited-identifiers", "a referral identifier differs"),
    ("edited-case-identifiers", "a case identifier differs"),
    ("match-needs-case", "decision match on a row with no case_id"),
    ("duplicate-row", "the same review_id and case_id appear on two rows"),
    ("two-matches", "a second row marked match for the same referral"),
]


def _snapshot(db: Path) -> dict[str, object]:
    with connect(db, read_only=True) as con:
        tables = sorted(r[0] for r in con.sql("show tables").fetchall())
        labels = con.sql("select * from review_labels order by review_id, case_id").fetchall()
    return {"tables": tables, "labels": labels}


@pytest.mark.parametrize(("rule", "message"), CASES)
def test_a_bad_labels_file_names_the_line_and_rule_and_changes_nothing(
        answered, tmp_path, rule, message):
    db, good = answered
    rows = _read(good)
    broken = _mutate(rule, rows)
    bad = _write(tmp_path / "bad.csv", rows)
    before = _snapshot(db)
    result = CliRunner().invoke(main, ["review", "import", "--db", str(db), "--labels",
                                       str(bad)])
    assert result.exit_code == ReviewError.exit_code == 10
    line = result.output.strip()
    assert "\n" not in line and "Traceback" not in line
    expected_rule = "edited-identifiers" if rule == "edited-case-identifiers" else rule
    assert f"line {broken + 2}" in line and f": {expected_rule}: " in line, line
    assert message in line
    assert "someoneelse" not in line and "other@example.org" not in line  # no values
    assert _snapshot(db) == before


@pytest.mark.parametrize("problem", ["missing-file", "missing-column", "missing-row",
                                     "not-csv"])
def test_a_file_that_is_not_the_sheet_is_refused(answered, tmp_path, problem):
    db, good = answered
    rows = _read(good)
    path = tmp_path / "bad.csv"
    if problem == "missing-column":
        _write(path, rows, [c for c in rows[0] if c != "decision"])
        expected = "line 1: missing-column: the header has no decision"
    elif problem == "missing-row":
        kept = [r for i, r in enumerate(rows) if i != _match(rows)]
        _write(path, kept)
        expected = "missing-row"
    elif problem == "not-csv":
        path.write_bytes(b"\xff\xfe\x00garbage\x00\n\x81")
        expected = "unreadable-file"
    else:
        path = tmp_path / "absent.csv"
        expected = "no such labels file"
    before = _snapshot(db)
    with connect(db) as con, pytest.raises(ReviewError, match=expected):
        import_labels(con, path)
    assert _snapshot(db) == before


def test_a_searched_case_may_be_written_into_the_blank_row_or_added(answered, tmp_path):
    db, good = answered
    rows = _read(good)
    i = _blank_case(_read(db.parent / "sheet.csv"))
    sheet_blank = _read(db.parent / "sheet.csv")[i]
    # the file from the simulated reviewer is valid already; the case-side columns of a
    # row the reviewer completes are free (the sheet had none to compare)
    j = _first(rows, lambda r: r["review_id"] == sheet_blank["review_id"])
    rows[j].update(case_id="C0001", decision="match", case_last_name="typed by hand")
    with connect(db) as con:
        summary = import_labels(con, _write(tmp_path / "ok.csv", rows))
    assert summary.n_rows == len(rows)


def test_reimport_replaces_the_labels(answered, tmp_path):
    db, good = answered
    rows = _read(good)
    for r in rows:
        if r["decision"] == "no_match":
            r["decision"] = "unsure"
    with connect(db) as con:
        first = import_labels(con, _write(tmp_path / "unsure.csv", rows))
        assert first.n_no_match == 0 and first.n_unsure > 0
        again = import_labels(con, good)
        assert again.n_unsure == 0
        assert con.sql("select count(*) from review_labels").fetchall()[0][0] == again.n_rows


def test_import_needs_a_sample(tmp_path):
    con: duckdb.DuckDBPyConnection = make_world(connect())
    with pytest.raises(ReviewError, match="no review sample"):
        import_labels(con, tmp_path / "x.csv")
