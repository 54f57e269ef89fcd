"""The command line end to end on tiny studies: outputs, messages and exit codes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from linkage.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_command_is_documented_in_the_readme_and_has_an_example() -> None:
    readme = README.read_text(encoding="utf-8")
    for name, command in main.commands.items():
        assert re.search(rf"`linkage {name}\b", readme), f"`linkage {name}` not in README"
        assert "Example:" in (command.help or ""), f"`linkage {name}` help has no example"


def test_generate_writes_the_contract_files(tmp_path: Path) -> None:
    out = tmp_path / "data"
    result = CliRunner().invoke(main, ["--quiet", "generate", "--scale", "0.0005", "--seed",
                                       "3", "--out", str(out), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.output == ""  # --quiet
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.csv"))
    assert names == ["case_outcomes.csv", "referrals.csv", "tips.csv",
                     "truth/truth_links.csv", "truth/truth_referrals.csv"]
    loud = CliRunner().invoke(main, ["generate", "--scale", "0.0005", "--out", str(out)])
    assert loud.exit_code == 0 and "referrals" in loud.output


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["generate", "--scale", "0", "--out", "x"], 3, "scale: 0.0 must be in (0, 10]"),
        (["generate", "--scenario", "nope", "--out", "x"], 3, "unknown scenario 'nope'"),
        (["generate", "--out", "x", "--format", "xls"], 2, "Invalid value for '--format'"),
    ],
)
def test_user_mistakes_give_one_line_and_a_distinct_exit_code(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    args = [a if a != "x" else str(tmp_path / "out") for a in args]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_generate_refuses_an_output_path_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("mine")
    result = CliRunner().invoke(main, ["generate", "--scale", "0.0005", "--out", str(target)])
    assert result.exit_code == 7 and "exists and is not a folder" in result.output
    assert target.read_text() == "mine"
