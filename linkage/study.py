"""One study run, from data to outputs: generate or load → validate → link → estimate →
report. Every stage is gated by its data-quality suites; outputs are written into a partial
folder that replaces ``out`` only when the whole run succeeded.

Example:
    >>> from linkage.study import StudyConfig, run_study
    >>> result = run_study(StudyConfig(scale=0.002, out="study_out"))  # doctest: +SKIP
    >>> sorted(p.name for p in result.out.iterdir())  # doctest: +SKIP
    ['conversion_rates.csv', 'links.parquet', 'manifest.json', 'report.html', ...]
"""

from __future__ import annotations

import json
import logging
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb

from linkage.db import connect, quote_literal, row_count, table_exists
from linkage.outputs import atomic_folder
from linkage.scenario import Scenario, load_scenario

log = logging.getLogger(__name__)

DEFAULT_SCALE = 0.02  # the default `linkage run` (about a minute on 2 cores)
RAW_SUITES = ("raw_tips", "raw_referrals", "raw_case_outcomes")
LINK_SUITES = ("stg_referrals", "stg_case_outcomes", "links")
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class StudyConfig:
    """What ``linkage run`` does. ``input`` None means: generate the scenario's data."""

    scenario: str | Path = "default"
    scale: float | None = None
    seed: int | None = None
    input: Path | None = None
    out: Path = Path("study_out")
    threshold: float | None = None
    quarantine_tolerance: float = 0.01


@dataclass
class StudyResult:
    """Where the outputs are and what each stage did (counts and seconds only)."""

    out: Path
    manifest: dict[str, Any]
    has_truth: bool
    stage_seconds: dict[str, float] = field(default_factory=dict)
    summaries: dict[str, Any] = field(default_factory=dict)


class _Stages:
    """Times each stage and reports progress as the share of stages done."""

    def __init__(self, names: list[str], progress: Progress) -> None:
        self.names, self.progress, self.seconds = names, progress, {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.progress(name, self.names.index(name) / len(self.names))
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 2)
        log.info("stage %s done in %.1f s", name, self.seconds[name])


def run_study(config: StudyConfig, on_progress: Progress | None = None) -> StudyResult:
    """Run a whole study and write its outputs into ``config.out`` (atomically).

    Raises the toolkit's errors (ConfigError, ContractError, DataQualityError,
    LinkModelError, OutputError) for a user's mistake; nothing is written then.

    Example:
        >>> run_study(StudyConfig(scale=0.002, out="/tmp/s")).has_truth  # doctest: +SKIP
        True
    """
    from linkage import quality
    from linkage.evaluate import evaluate, has_truth
    from linkage.link import link
    from linkage.load import load_input, load_truth

    progress = on_progress or (lambda step, frac: None)
    scenario = None if config.input else load_scenario(
        config.scenario, scale=config.scale or DEFAULT_SCALE, seed=config.seed)
    names = (["generate"] if scenario else []) + ["load", "validate", "link", "evaluate",
                                                 "estimate", "report"]
    st = _Stages(names, progress)
    with atomic_folder(config.out) as tmp:
        con = connect(tmp / "study.duckdb")
        with con:
            generated: dict[str, int] = {}
            source = Path(config.input) if config.input else tmp / "data"
            if scenario is not None:
                with st.stage("generate"):
                    from linkage.generate import generate

                    generated = generate(scenario, source, fmt="parquet").counts
            with st.stage("load"):
                loaded = load_input(source, con)
                truth_tables = load_truth(source / "truth", con) if source.is_dir() else []
            with st.stage("validate"):
                quar = quality.quarantine_stage_dates(con, tolerance=config.quarantine_tolerance)
                dq = quality.gate(con, RAW_SUITES)
            with st.stage("link"):
                linked = link(con, threshold=config.threshold, model_path=tmp / "model.json",
                              seed=scenario.seed if scenario else 42)
                dq += quality.gate(con, LINK_SUITES)
                linked.write_charts(tmp / "charts")
            truth = has_truth(con)
            with st.stage("evaluate"):
                evaluation = evaluate(con) if truth else None
            with st.stage("estimate"):
                estimated = _estimate(con, scenario)
                if estimated is not None:
                    dq += quality.gate(con, ("conversion_rates",))
            _export(con, tmp)
            manifest = _manifest(config, scenario, loaded, truth_tables, con, quar, dq)
            manifest["generated_truth_counts"] = generated
            with st.stage("report"):
                from linkage.report import write_report

                write_report(con, tmp, manifest=manifest, link_summary=linked,
                             evaluation=evaluation, quality_results=dq, quarantine=quar)
            manifest["stage_seconds"] = st.seconds
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n",
                                               encoding="utf-8")
    progress("done", 1.0)
    return StudyResult(config.out, manifest, truth, st.seconds,
                       {"link": linked, "evaluation": evaluation, "estimate": estimated})


def _estimate(con: duckdb.DuckDBPyConnection, scenario: Scenario | None) -> Any:
    """Conversion rates, when the estimation stage is installed (linkage.estimate)."""
    try:
        from linkage.estimate import estimate
    except ImportError:  # pragma: no cover - estimation lands separately
        log.warning("estimation stage not available: conversion_rates not computed")
        return None
    return estimate(con, seed=scenario.seed if scenario else 42)


def _export(con: duckdb.DuckDBPyConnection, out: Path) -> None:
    """The contract's output tables as files beside the study database."""
    exports = {"links": "links.parquet", "conversion_rates": "conversion_rates.csv"}
    for table, name in exports.items():
        if not table_exists(con, table):
            continue
        opts = "(format parquet)" if name.endswith(".parquet") else "(header)"
        con.execute(f"copy {table} to {quote_literal(str(out / name))} {opts}")
        if name.endswith(".csv"):
            con.execute(f"copy {table} to {quote_literal(str(out / 'conversion_rates.parquet'))}"
                        " (format parquet)")


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("linkage", "duckdb", "splink", "great-expectations", "pandas", "pyarrow",
                "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _manifest(config: StudyConfig, scenario: Scenario | None, loaded: Any,
              truth_tables: list[str], con: duckdb.DuckDBPyConnection,
              quarantine: Any, dq: list[Any]) -> dict[str, Any]:
    tables = [r[0] for r in con.sql(
        "select table_name from information_schema.tables where table_schema = 'main' "
        "order by 1").fetchall()]
    return {
        "toolkit": "linkage",
        "versions": _versions(),
        "input": "generated" if scenario else str(config.input),
        "scenario": scenario.to_dict() if scenario else None,
        "seed": scenario.seed if scenario else None,
        "threshold": config.threshold,
        "input_sha256": {Path(k).name: v for k, v in loaded.sha256.items()},
        "truth_tables": truth_tables,
        "row_counts": {t: row_count(con, t) for t in tables},
        "quarantine": {"table": quarantine.quarantine_table, "rows": quarantine.n_quarantined,
                       "reasons": quarantine.reasons},
        "data_quality": {r.suite: {"success": r.success, "failures": len(r.failures)}
                         for r in dq},
    }
