"""The Python API (what a notebook imports) and the `linkage run` user mistakes that stop
before any work: fast, no linkage runs here."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import linkage
from linkage.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def test_import_linkage_loads_no_heavy_dependency() -> None:
    code = ("import sys, linkage; heavy = ['splink', 'great_expectations', 'pandas', "
            "'numpy', 'jinja2']; print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_every_public_name_resolves_and_stage_names_stay_functions() -> None:
    for name in linkage.__all__:
        assert getattr(linkage, name) is not None, name
    # importing the stage modules must not shadow the functions of the same name
    importlib.import_module("linkage.estimation.run")
    from linkage.linking.run import LinkSummary  # noqa: F401

    for name in ("link", "estimate", "evaluate", "generate", "write_report", "run_study"):
        assert callable(getattr(linkage, name)) and getattr(linkage, name).__name__ == name
    with pytest.raises(AttributeError):
        linkage.no_such_name  # noqa: B018


def test_the_readme_documents_the_python_api() -> None:
    readme = README.read_text(encoding="utf-8")
    api = readme.split("## Python API", 1)[1].split("\n## ", 1)[0]
    for name in ("run_study", "StudyConfig", "connect", "load_input", "link", "estimate",
                 "write_report"):
        assert f"linkage.{name}" in api, name


def test_study_config_lists_every_bad_value() -> None:
    with pytest.raises(linkage.ConfigError) as err:
        linkage.StudyConfig(scale=0, threshold=1.5, quarantine_tolerance=-1)
    message = str(err.value)
    assert "scale: 0 must be in (0, 10]" in message
    assert "threshold: 1.5 must be in (0, 1]" in message
    assert "quarantine_tolerance" in message and "\n" not in message
    assert linkage.StudyConfig(out="x", input="y").input == Path("y")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["run", "--threshold", "2"], 3, "threshold: 2.0 must be in (0, 1]"),
        (["run", "--scale", "-1"], 3, "scale: -1.0 must be in (0, 10]"),
        (["run", "--scenario", "nope"], 3, "unknown scenario 'nope'"),
        (["run", "--input", "IN", "--out", "IN"], 7, "would delete the input"),
        (["run", "--input", "missing-folder"], 4, "missing-folder"),
        (["run", "--threshold", "high"], 2, "Invalid value for '--threshold'"),
    ],
)
def test_run_mistakes_give_one_line_and_a_distinct_exit_code(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    (tmp_path / "IN").mkdir()
    args = [str(tmp_path / a) if a in ("IN", "missing-folder") else a for a in args]
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [*args, "--quiet"] + (
        [] if "--out" in args else ["--out", str(out)]))
    assert result.exit_code == code, result.output
    assert message in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 if code != 2 else lines, result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_an_interrupted_run_exits_130_with_one_line(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("linkage.study.run_study", interrupted)
    result = CliRunner().invoke(main, ["run", "--out", str(tmp_path / "s")])
    assert result.exit_code == 130
    assert result.output.strip().splitlines()[-1] == ("interrupted (SIGINT): nothing was "
                                                      "written; earlier outputs are unchanged")
    assert "Traceback" not in result.output


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_the_readme_and_contract_mappings_are_valid(tmp_path: Path) -> None:
    from linkage.ingest.mapping import load_mapping

    docs = README.read_text(encoding="utf-8") + (README.parent / "docs" / "contract.md"
                                                 ).read_text(encoding="utf-8")
    blocks = _blocks(docs, "toml")
    assert len(blocks) >= 2
    for i, block in enumerate(blocks):
        (tmp_path / f"{i}.toml").write_text(block, encoding="utf-8")
        assert load_mapping(tmp_path / f"{i}.toml").tables


def test_the_readme_first_example_is_five_lines() -> None:
    first = _blocks(README.read_text(encoding="utf-8"), "python")[0]
    assert len([line for line in first.splitlines() if line.strip()]) <= 5


@pytest.mark.slow  # two small studies, about a minute on 2 cores
def test_the_readme_python_examples_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for block in _blocks(README.read_text(encoding="utf-8"), "python"):
        exec(compile(block, "README.md", "exec"), {})  # noqa: S102 - our own README
    assert (tmp_path / "study_out" / "report.html").is_file()
    assert (tmp_path / "report" / "report.html").is_file()


def test_open_study_reopens_a_finished_folder(tmp_path: Path) -> None:
    import json

    import duckdb

    from linkage.summaries import LinkFacts, StudyManifest

    with pytest.raises(linkage.OutputError, match="no finished study here"):
        linkage.open_study(tmp_path)
    facts = LinkFacts(0.5, 0.001, 0.01, 3, 2, 4, 4, 1, 1)
    manifest = StudyManifest(input="mine/", linkage=facts, truth_tables=("truth_links",))
    (tmp_path / "manifest.json").write_text(json.dumps(manifest.to_dict()), encoding="utf-8")
    with duckdb.connect(str(tmp_path / "study.duckdb")) as con:
        con.execute("create table links as select 'R1' as referral_id, 'C1' as case_id")
        con.execute("create table conversion_rates as select * from (values "
                    "('possession', 'arrest'), ('ALL', 'conviction'), ('ALL', 'investigation'),"
                    " ('possession', 'investigation')) as t(offense_type, stage), "
                    "(select 'cumulative' as rate_kind, true as is_primary)")
    study = linkage.open_study(tmp_path)
    assert repr(study) == f"StudyResult(out={str(tmp_path)!r}, links=1, has_truth=True)"
    assert study.manifest.linkage == facts and study.report == tmp_path / "report.html"
    got = study.rates()[["offense_type", "stage"]].values.tolist()
    assert got == [["ALL", "investigation"], ["ALL", "conviction"],
                   ["possession", "investigation"], ["possession", "arrest"]]
    assert study.links()["case_id"].tolist() == ["C1"]
