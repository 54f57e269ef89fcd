"""The command line with a user's own data: `--mapping` on load, validate and run, the
refusals it makes before any work, and `--quiet` before or after every command."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from linkage.cli import main

MAPPING = """\
[referrals.columns]      # contract column = source column
last_name = "surname"
dob = "birth_date"
[referrals.formats]
dob = "%m/%d/%Y"
[case_outcomes.columns]
last_name = "family_name"
[options]
on_bad_value = "null"
max_bad_share = 0.5      # one bad date in three rows (a tiny example)
"""


@pytest.fixture
def extract(contract_rows, contract_write) -> Path:
    """The loader fixture as an agency might send it: other names, US dates, one bad date."""
    contract_rows["case_outcomes"][1]["arrested_at"] = ""  # no quality finding
    for r in contract_rows["referrals"]:
        r["surname"], r["birth_date"] = r.pop("last_name"), "05/01/1990"
        del r["dob"]
    contract_rows["referrals"][2]["birth_date"] = "31/31/1990"
    for r in contract_rows["case_outcomes"]:
        r["family_name"] = r.pop("last_name")
    return contract_write(contract_rows, name="extract")


def test_load_with_a_mapping(extract: Path, tmp_path: Path) -> None:
    mapping, db = tmp_path / "mapping.toml", tmp_path / "study.duckdb"
    mapping.write_text(MAPPING, encoding="utf-8")
    result = CliRunner().invoke(main, ["load", "--input", str(extract), "--db", str(db),
                                       "--mapping", str(mapping)])
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(db), read_only=True) as con:
        got = con.sql("select last_name, dob from raw_referrals order by referral_id").fetchall()
    assert [(n, str(d)) for n, d in got] == [("Smith", "1990-05-01"), ("Smith", "1990-05-01"),
                                             ("Smith", "None")]
    assert "(bad values loaded as NULL: referrals.dob: 1)" in result.stdout


def test_validate_with_a_mapping(extract: Path, tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", "--input", str(extract), "--mapping",
                                       str(mapping)])
    assert result.exit_code == 0, result.output
    unmapped = CliRunner().invoke(main, ["validate", "--input", str(extract)])
    assert unmapped.exit_code == 4
    assert "did you mean 'last_name'? found 'surname'" in unmapped.stderr


@pytest.mark.parametrize(("command", "extra"), [
    ("load", ["--db", "{tmp}/study.duckdb"]), ("validate", []), ("run", ["--out", "{tmp}/o"])])
def test_a_bad_mapping_stops_every_command_before_any_output(
    command: str, extra: list[str], extract: Path, tmp_path: Path
) -> None:
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('[referrals.columns]\nsurname = "last_name"\n', encoding="utf-8")
    args = [command, "--input", str(extract), "--mapping", str(mapping),
            *[a.replace("{tmp}", str(tmp_path)) for a in extra]]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 3, result.output
    assert result.stderr.splitlines() == [
        f"error: {mapping}: mapping: referrals.columns.surname: not a contract column of "
        "referrals; the key is the contract column: write last_name = 'surname' (contract "
        "column = source column)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["extract", "mapping.toml"]


def test_run_refuses_a_mapping_without_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", "--mapping", "m.toml", "--out", str(tmp_path / "o")])
    assert result.exit_code == 3
    assert "mapping: applies to your own data only" in result.stderr


def _invocations(tmp: Path, data: Path) -> dict[str, list[str]]:
    """A quick, successful call of every command (run stops at its configuration check)."""
    return {
        "generate": ["generate", "--scale", "0.0003", "--out", str(tmp / "gen")],
        "load": ["load", "--input", str(data), "--db", str(tmp / "q.duckdb"), "--overwrite"],
        "validate": ["validate", "--input", str(data)],
        "link": ["link", "--db", str(tmp / "missing.duckdb")],
        "estimate": ["estimate", "--db", str(tmp / "q.duckdb")],
        "pseudonymize": ["pseudonymize", "--input", str(data), "--out", str(tmp / "p"),
                         "--key-env", "LINKAGE_QUIET_TEST_KEY"],
        "simulate": ["simulate", "--replicates", "0"],
        "run": ["run", "--threshold", "2"],
        "scenarios": ["scenarios"],
        "review": ["review", "rates", "--db", str(tmp / "missing.duckdb")],
    }


@pytest.mark.parametrize("position", ["before", "after"])
def test_every_command_takes_quiet_before_or_after_its_name(
    position: str, contract_rows, contract_write, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("LINKAGE_QUIET_TEST_KEY", "k" * 40)
    contract_rows["case_outcomes"][1]["arrested_at"] = ""
    calls = _invocations(tmp_path, contract_write(contract_rows))
    assert set(calls) == set(main.commands)  # a new command must be added here
    for name, args in calls.items():
        argv = ["--quiet", *args] if position == "before" else [*args, "-q"]
        result = CliRunner().invoke(main, argv)
        assert "No such option" not in result.output, name
        loud = CliRunner().invoke(main, args)
        # quiet: nothing on stdout, and the same exit code as without it
        assert (result.exit_code, result.stdout) == (loud.exit_code, ""), (name, result.output)
        if loud.exit_code == 0:
            assert loud.stdout, name


def test_link_on_a_database_without_input_is_a_one_line_error(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    result = CliRunner().invoke(main, ["link", "--db", str(db)])
    assert result.exit_code == 3
    assert result.output.strip().splitlines() == [
        "error: the study database has no raw_referrals, raw_case_outcomes: load the input "
        "first (`linkage load --input DIR --db FILE`)"]
