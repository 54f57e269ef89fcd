"""``linkage validate`` as a function and a command: sources, the JSON report, the offline
HTML pages, no record values anywhere, and no network connection."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from quality_tables import CLEAN_SQL, SECRET

from linkage.cli import main
from linkage.errors import ConfigError, OutputError
from linkage.outputs import MARKER
from linkage.quality import suites as quality
from linkage.quality.results import format_summary, render_html, to_dict, write_docs
from linkage.quality.validate import validate_input

RAW = ["raw_case_outcomes", "raw_referrals", "raw_tips"]
# Anything that would make a browser fetch from elsewhere when the page is opened.
EXTERNAL = re.compile(r"https?:|//[a-z0-9]|<script|<link|<img|<iframe|@import|url\(", re.I)


@pytest.fixture
def study_db(tmp_path: Path) -> Path:
    """A study database as `linkage run` leaves it: raw_*, stg_*, links, conversion_rates."""
    path = tmp_path / "study.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(CLEAN_SQL)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_input_folder_runs_the_raw_suites_and_writes_both_reports(
    contract_rows, contract_write, tmp_path
):
    source = contract_write(contract_rows, "csv")
    run = validate_input(source, json_out=tmp_path / "out" / "dq.json",
                         docs_dir=tmp_path / "docs")  # fmt: skip
    assert run.exit_code == 0 and run.success
    assert [r.suite for r in run.results] == RAW
    # the fixture's case C2 was arrested before it was opened: a warning, not a failure
    warned = [(f.severity, f.column, f.unexpected_count) for r in run.results for f in r.failures]
    assert warned == [("warning", "arrested_at,opened_at", 1)]
    report = json.loads((tmp_path / "out" / "dq.json").read_text())
    assert (report["schema"], report["passed"], report["failed"], report["warnings"]) == (
        "linkage.quality/1", 3, 0, 1)  # fmt: skip
    assert report["source"] == str(source) and report["contract_violations"] == []
    assert report["window"] == {"start": "1998-01-01", "end": "2040-12-31", "extract": "2040-12-31"}
    first = report["suites"][0]["expectations"][0]
    assert set(first) == {"type", "blocking", "column", "severity", "success", "unexpected_count",
                          "unexpected_percent", "description", "error", "detail",
                          "element_count", "index"}
    assert run.written == (tmp_path / "docs" / "index.html", tmp_path / "out" / "dq.json")
    only = validate_input(source, suite="raw_tips")
    assert [r.suite for r in only.results] == ["raw_tips"]


def test_study_database_is_validated_in_place_and_left_unchanged(study_db: Path) -> None:
    before = _sha(study_db)
    run = validate_input(study_db)
    assert [r.suite for r in run.results] == quality.suite_names()
    assert run.success and run.report["passed"] == 7
    assert _sha(study_db) == before
    with duckdb.connect(str(study_db)) as con:  # and not left locked
        con.execute("update links set match_probability = 2")
    failed = validate_input(study_db, suite="links")
    assert failed.exit_code == 5
    assert "table links, column match_probability: expect_column_values_to_be_between: " \
           "2 unexpected (100.00%)" in format_summary(failed.results)


def test_a_contract_violation_is_a_report_too(contract_rows, contract_write, tmp_path):
    contract_rows["referrals"][1]["tip_id"] = SECRET  # an orphan referral
    source = contract_write(contract_rows)
    (tmp_path / "dq.json").write_text('{"success": true}')  # a stale report is replaced
    run = validate_input(source, json_out=tmp_path / "dq.json", docs_dir=tmp_path / "docs")
    assert run.exit_code == 4 and not run.success and run.results == []
    report = json.loads((tmp_path / "dq.json").read_text())
    assert report["success"] is False and report["suites"] == []
    assert report["contract_violations"] == [{
        "file": str(source / "referrals.csv"), "table": "referrals", "column": "tip_id",
        "rule": "orphan tip_id", "n_rows": 1,
        "message": f"{source / 'referrals.csv'}: table referrals, column tip_id: orphan tip_id: "
                   "tip_id not found in tips (1 row(s))",
    }]  # fmt: skip
    page = (tmp_path / "docs" / "index.html").read_text()
    assert "orphan tip_id" in page and SECRET not in page


def test_duckdb_file_without_known_tables(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create table notes as select 1 as x")
    run = validate_input(path)
    assert run.exit_code == 4
    assert run.contract_error.rule == "missing table"
    assert "holds neither the input tables (tips, referrals, case_outcomes)" in str(
        run.contract_error)  # fmt: skip


def test_bad_suite_or_docs_folder_fails_before_reading(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-input"
    with pytest.raises(ConfigError, match="unknown suite 'nope'"):
        validate_input(missing, suite="nope")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="files the toolkit did not write"):
        validate_input(missing, docs_dir=mine)
    assert (mine / "notes.txt").read_text() == "keep me"
    with pytest.raises(OutputError, match="is a folder; name a file"):
        validate_input(missing, json_out=mine, docs_dir=tmp_path / "docs")
    assert not (tmp_path / "docs").exists()


def test_docs_replace_only_their_own_folder(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs(to_dict([]), docs)
    (docs / "stale.html").write_text("old")
    write_docs(to_dict([]), docs)  # a folder we wrote is replaced whole
    assert sorted(p.name for p in docs.iterdir()) == [MARKER, "index.html"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is not a folder"):
        write_docs(to_dict([]), tmp_path / "file")


# --- no record values, no external resources ---------------------------------------------------


def test_reports_hold_counts_but_no_record_values(
    study_db: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with duckdb.connect(str(study_db)) as con:
        con.execute(f"update raw_referrals set referral_id = '{SECRET}'")  # duplicate ids
        con.execute(f"update raw_referrals set tip_id = '{SECRET}' where dob is null")  # orphans
        con.execute(f"update stg_referrals set email = '{SECRET}', phone = '<b>{SECRET}</b>'")
        con.execute(f"update links set case_id = '{SECRET}'")
        con.execute("alter table links alter match_probability type varchar")
        con.execute(f"update links set match_probability = '{SECRET}'")
    with caplog.at_level(logging.DEBUG):
        run = validate_input(study_db, json_out=tmp_path / "dq.json", docs_dir=tmp_path / "docs")
        with duckdb.connect(str(study_db), read_only=True) as con:
            with pytest.raises(quality.DataQualityError) as err:
                quality.gate(con, quality.suite_names())
    summary = format_summary(run.results)
    assert "[FAIL] table raw_referrals, column referral_id: expect_column_values_to_be_unique: " \
           "3 unexpected (100.00%)" in summary
    assert summary.endswith("5 passed, 2 failed (202 expectations, 2 warnings)")
    email = next(e for s in run.report["suites"] if s["suite"] == "stg_referrals"
                 for e in s["expectations"]
                 if e["column"] == "email" and "regex" in e["type"])  # fmt: skip
    assert (email["severity"], email["success"], email["unexpected_count"]) == ("warning", False, 3)
    texts = [summary, (tmp_path / "dq.json").read_text(), str(err.value), caplog.text,
             repr(run.results), (tmp_path / "docs" / "index.html").read_text()]  # fmt: skip
    for text in texts:
        assert SECRET not in text


def test_offline_pages_load_nothing_from_elsewhere(study_db: Path, tmp_path: Path) -> None:
    with duckdb.connect(str(study_db)) as con:
        con.execute("update conversion_rates set ci_low = estimate + 0.01 where stage = 'charge'")
        con.execute("alter table raw_tips drop column state")
    run = validate_input(study_db, docs_dir=tmp_path / "docs")
    page = (tmp_path / "docs" / "index.html").read_text(encoding="utf-8")
    assert EXTERNAL.search(page) is None, EXTERNAL.search(page)
    assert page.count("<table") == 1 + len(run.results)  # the overview, then one per suite
    assert "ci_low &lt;= estimate" in page  # escaped, not markup
    assert page.count('class="fail"') >= 3
    assert EXTERNAL.search(render_html(to_dict([]))) is None


# --- the command ---------------------------------------------------------------------------------


def test_validate_command_prints_a_summary_and_exits_by_the_worst_result(study_db, tmp_path):
    ok = CliRunner().invoke(main, ["validate", "--input", str(study_db), "--window",
                                   "2024-01-01", "2024-12-31", "--extract-date", "2025-12-31"])
    assert ok.exit_code == 0, ok.output
    assert ok.output.splitlines()[-1] == "7 passed, 0 failed (202 expectations, 0 warnings)"
    narrow = CliRunner().invoke(main, ["validate", "--input", str(study_db), "--suite",
                                       "raw_tips", "--window", "2024-01-02", "2024-01-02"])
    assert narrow.exit_code == 0
    assert "[WARN] table raw_tips, column received_at: expect_column_values_to_be_between " \
           "[received_at inside the study window]: 2 unexpected (66.67%)" in narrow.output
    with duckdb.connect(str(study_db)) as con:
        con.execute("insert into links values ('R1', 'C2', 0.6, 0.5)")
    bad = CliRunner().invoke(main, ["--quiet", "validate", "--input", str(study_db),
                                    "--json", str(tmp_path / "dq.json")])
    assert bad.exit_code == 5
    assert bad.stdout == ""
    assert bad.stderr == ("error: table links: unexpected_rows_expectation [each referral has "
                          "at most one link]: 1 unexpected\n")
    assert json.loads((tmp_path / "dq.json").read_text())["failed"] == 1
    wrong = CliRunner().invoke(main, ["validate", "--input", str(study_db), "--window",
                                      "2024-12-31", "2024-01-01"])
    assert wrong.exit_code == 3 and "start <= end <= extract date" in wrong.output


def test_validate_makes_no_network_connection(study_db: Path, tmp_path: Path) -> None:
    # A fresh interpreter, so that importing GX and its dependencies is watched too. Outbound
    # events only: urllib3 binds a socket to ::1 at import to probe IPv6, which is local.
    script = textwrap.dedent(f"""
        import sys
        events = []
        watch = {{"socket.connect", "socket.sendto", "socket.getaddrinfo",
                 "socket.gethostbyname", "socket.gethostbyaddr", "urllib.Request",
                 "http.client.connect"}}
        sys.addaudithook(lambda event, args: events.append(event) if event in watch else None)
        from linkage.cli import main
        try:
            main(["validate", "--input", {str(study_db)!r}, "--json", {str(tmp_path / "dq.json")!r},
                  "--docs", {str(tmp_path / "docs")!r}])
        except SystemExit as exc:
            print("exit", exc.code)
        print("events", sorted(set(events)))
        import socket
        socket.getaddrinfo("localhost", None)  # the hook sees a look-up: it can fail
        print("probe", sorted(set(events)))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    lines = done.stdout.splitlines()
    assert "exit 0" in lines, done.stdout + done.stderr
    assert lines[-2:] == ["events []", "probe ['socket.getaddrinfo']"]
    assert (tmp_path / "docs" / "index.html").is_file()
