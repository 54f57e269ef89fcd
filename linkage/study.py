"""One study run, from data to outputs: generate or load → validate → link → evaluate →
estimate → report. Every stage is gated by its data-quality suites; outputs are written into a
partial folder that replaces ``out`` only when the whole run succeeded.

Example:
    >>> from linkage.study import StudyConfig, run_study
    >>> result = run_study(StudyConfig(scale=0.002, out="study_out"))  # doctest: +SKIP
    >>> sorted(p.name for p in result.out.iterdir())  # doctest: +SKIP
    ['charts', 'conversion_rates.csv', 'conversion_rates.parquet', 'data', 'links.parquet', ...]
"""

from __future__ import annotations

import datetime as dt
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

from linkage.contract import STAGES
from linkage.db import connect, quote_literal, row_count, table_exists
from linkage.defaults import DEFAULT_SEED
from linkage.errors import ConfigError, OutputError
from linkage.estimation.survival import DEFAULT_HORIZONS, parse_horizons
from linkage.generation import Scenario, load_scenario
from linkage.ingest import load_mapping
from linkage.linking import BACKENDS
from linkage.memory import check_input_memory, check_memory
from linkage.outputs import atomic_folder, scratch_dir
from linkage.reporting.format import headline_table
from linkage.summaries import StudyManifest

log = logging.getLogger(__name__)

RAW_SUITES = ("raw_tips", "raw_referrals", "raw_case_outcomes")
LINK_SUITES = ("stg_referrals", "stg_case_outcomes", "links")
OUTPUT_FILES = ("report.html", "report.md", "conversion_rates.csv", "links.parquet",
                "manifest.json", "timings.json", "study.duckdb")
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class StudyConfig:
    """What ``linkage run`` does; checked when created (every problem listed at once).

    Attributes:
        scenario: a shipped scenario name or a TOML path (ignored with ``input``).
        scale: share of national volume (None = the scenario's ``scale``).
        seed: random seed (None = the scenario's).
        input: a folder or DuckDB file of the user's own tables; None = generate.
        out: the output folder (replaced atomically).
        threshold: link threshold in (0, 1] (None = the linkage default, 0.5).
        quarantine_tolerance: largest share of case records with out-of-order stage dates
            that is quarantined rather than stopping the run.
        backend: where Splink runs, ``"duckdb"`` or ``"spark"`` (see ``linkage.linking.run``).
        mapping: a mapping TOML for ``input`` in other column names, formats or values
            (see ``linkage.ingest.mapping``); None = the contract's names.
        min_count: small-cell suppression, hide counts below this (0 = off; None = the
            estimator's default).
        end_date: the study end (extract) date the censoring counts from (None = the
            scenario's when generating, else the latest case-outcome date).
        horizons: days of the time-to-event rates, e.g. ``"180,365,730"``.

    Raises:
        ConfigError: a value out of range (names the field and what is allowed).

    Example:
        >>> StudyConfig(scale=0.005, seed=3, out="study_out").out
        PosixPath('study_out')
    """

    scenario: str | Path = "default"
    scale: float | None = None
    seed: int | None = None
    input: Path | None = None
    out: Path = Path("study_out")
    threshold: float | None = None
    quarantine_tolerance: float = 0.01
    backend: str = "duckdb"
    mapping: Path | None = None
    min_count: int | None = None
    end_date: dt.date | None = None
    horizons: str | tuple[int, ...] = DEFAULT_HORIZONS

    def __post_init__(self) -> None:
        # Frozen: normalise the paths through object.__setattr__, once, here.
        object.__setattr__(self, "out", Path(self.out))
        if self.input is not None:
            object.__setattr__(self, "input", Path(self.input))
        problems = []
        if self.scale is not None and not 0 < self.scale <= 10:
            problems.append(f"scale: {self.scale!r} must be in (0, 10]")
        if self.threshold is not None and not 0 < self.threshold <= 1:
            problems.append(f"threshold: {self.threshold!r} must be in (0, 1]")
        if not 0 <= self.quarantine_tolerance <= 1:
            problems.append(f"quarantine_tolerance: {self.quarantine_tolerance!r} must be in "
                            "[0, 1]")
        if self.min_count is not None and self.min_count < 0:
            problems.append(f"min_count: {self.min_count!r} must be >= 0")
        try:
            parse_horizons(self.horizons)
        except ConfigError as exc:
            problems.append(str(exc))
        if self.mapping is not None and self.input is None:
            problems.append("mapping: applies to your own data only; give input too")
        elif self.mapping is not None:
            object.__setattr__(self, "mapping", Path(self.mapping))
        if self.backend not in BACKENDS:
            problems.append(f"backend: {self.backend!r} must be one of {', '.join(BACKENDS)}")
        if problems:
            raise ConfigError("study configuration: " + "; ".join(problems))
        if self.mapping is not None:
            load_mapping(self.mapping)  # a bad mapping fails here, before any work


@dataclass
class StudyResult:
    """Where the outputs are and what each stage did (counts and seconds only).

    Example:
        >>> result.rates().query("offense_type == 'ALL'")  # doctest: +SKIP
    """

    out: Path
    manifest: StudyManifest
    has_truth: bool
    stage_seconds: dict[str, float] = field(default_factory=dict)
    summaries: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # the dataclass's would print every summary (pages of it)
        lk, est = self.manifest.linkage, self.manifest.estimation
        links = f", links={lk.n_links}" if lk else ""
        primary = f", primary={est.primary!r}" if est else ""
        return f"StudyResult(out={str(self.out)!r}{links}{primary}, has_truth={self.has_truth})"

    @property
    def report(self) -> Path:
        """The run's ``report.html`` (section 3 holds the answer)."""
        return self.out / "report.html"

    def links(self) -> Any:
        """The ``links`` table as a pandas DataFrame (best case per referral)."""
        with self.connect() as con:
            return con.table("links").df()

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A read-only connection to the run's ``study.duckdb`` (every table of the run).

        Example:
            >>> result.connect().table("link_metrics").df()  # doctest: +SKIP
        """
        return connect(self.out / "study.duckdb", read_only=True)

    def rates(self, *, primary_only: bool = True, rate_kind: str = "cumulative") -> Any:
        """``conversion_rates`` as a pandas DataFrame (the primary method by default).

        Example:
            >>> result.rates(rate_kind="conditional").shape  # doctest: +SKIP
        """
        with self.connect() as con:
            rel = con.table("conversion_rates").filter(
                duckdb.ColumnExpression("rate_kind") == duckdb.ConstantExpression(rate_kind))
            if primary_only:
                rel = rel.filter(duckdb.ColumnExpression("is_primary"))
            df = rel.df()
        rank = {s: i for i, (s, _) in enumerate(STAGES)}  # funnel order; ALL first
        key = {"stage": lambda c: c.map(rank), "offense_type": lambda c: c.ne("ALL").astype(
            str) + c.astype(str)}
        return df.sort_values(["offense_type", "stage"], key=lambda c: key[c.name](c),
                              kind="stable").reset_index(drop=True)


class _Stages:
    """Times each stage and reports progress as the share of stages done."""

    def __init__(self, names: list[str], progress: Progress) -> None:
        self.names, self.progress, self.seconds = names, progress, {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.progress(name, self.names.index(name) / len(self.names))
        log.info("stage %s started", name)
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 2)
        log.info("stage %s done in %.1f s", name, self.seconds[name])


def _check_paths(config: StudyConfig) -> None:
    """Refuse an output folder whose atomic replacement would delete the input."""
    if config.input is None or not config.input.exists():
        return  # a missing input is the loader's contract error
    src, out = config.input.resolve(), config.out.resolve()
    if src == out or out in src.parents:
        raise OutputError(f"output {config.out} holds the input {config.input}: replacing it "
                          "would delete the input; choose another --out")


def run_study(config: StudyConfig | None = None, on_progress: Progress | None = None,
              ) -> StudyResult:
    """Run a whole study and write its outputs into ``config.out`` (atomically).

    Args:
        config: what to run (default: ``StudyConfig()``, the default scenario).
        on_progress: called with ``(stage, fraction done)`` as each stage starts.

    Returns:
        A ``StudyResult``; ``result.rates()`` and ``result.connect()`` open the outputs.

    Raises:
        ToolkitError: a user's mistake (ConfigError, ContractError, DataQualityError,
            LinkModelError, OutputError); nothing is written then.

    Example:
        >>> run_study(StudyConfig(scale=0.002, out="/tmp/s")).has_truth  # doctest: +SKIP
        True
    """
    from linkage.reporting import write_report

    config = config or StudyConfig()
    _check_paths(config)
    mapping = load_mapping(config.mapping)  # a bad mapping fails before any work
    progress = on_progress or (lambda step, frac: None)
    scenario = None if config.input else load_scenario(
        config.scenario, scale=config.scale, seed=config.seed)
    if scenario is not None:  # a user's data is sized once loaded (check_input_memory)
        check_memory(scenario.scale)
    names = (["generate"] if scenario else []) + ["load", "validate", "link", "evaluate",
                                                 "estimate", "report"]
    st = _Stages(names, progress)
    # Temporary files live inside the partial folder, and are gone before it is renamed.
    with atomic_folder(config.out) as tmp, scratch_dir(tmp / ".tmp"):
        with connect(tmp / "study.duckdb") as con:
            manifest, summaries = _stages(con, tmp, config, scenario, st, mapping)
        # The report opens the finished database read-only, after every stage wrote it.
        with st.stage("report"):
            write_report(tmp / "study.duckdb", tmp, manifest=manifest)
        (tmp / "manifest.json").write_text(json.dumps(manifest.to_dict(), indent=2) + "\n",
                                           encoding="utf-8")
        # Wall times are the only part of the outputs that differs between identical runs.
        (tmp / manifest.timings).write_text(json.dumps(
            {"stage_seconds": st.seconds, "total_seconds": round(sum(st.seconds.values()), 2)},
            indent=2) + "\n", encoding="utf-8")
    progress("done", 1.0)
    return StudyResult(config.out, manifest, summaries["evaluation"] is not None, st.seconds,
                       summaries)


def _stages(con: duckdb.DuckDBPyConnection, tmp: Path, config: StudyConfig,
            scenario: Scenario | None, st: _Stages, mapping: Any,
            ) -> tuple[StudyManifest, dict[str, Any]]:
    """Every stage before the report, each gated by its suites; the run's manifest."""
    from linkage.estimation import estimate
    from linkage.ingest import link_preflight, load_input, load_truth, quarantine_stage_dates
    from linkage.linking import evaluate, has_truth, link
    from linkage.quality import gate
    from linkage.quality._gx import prewarm

    generated: dict[str, int] = {}
    source = Path(config.input) if config.input else tmp / "data"
    seed = scenario.seed if scenario else DEFAULT_SEED
    if scenario is not None:
        with st.stage("generate"):
            from linkage.generation import generate

            generated = generate(scenario, source, fmt="parquet").counts
    prewarm()  # GX's import, behind the load
    with st.stage("load"):
        loaded = load_input(source, con, mapping=mapping)
        if scenario is None:  # a generated study was checked before it started
            check_input_memory(loaded.row_counts)
        truth_tables = load_truth(source / "truth", con) if source.is_dir() else []
    with st.stage("validate"):
        quar = quarantine_stage_dates(con, tolerance=config.quarantine_tolerance)
        dq = gate(con, RAW_SUITES)
    with st.stage("link"):
        preflight = link_preflight(con)
        linked = link(con, threshold=config.threshold, model_path=tmp / "model.json",
                      seed=seed, backend=config.backend)
        dq += gate(con, LINK_SUITES)
        linked.write_charts(tmp / "charts")
    with st.stage("evaluate"):
        evaluation = evaluate(con) if has_truth(con) else None
    with st.stage("estimate"):
        end_date = config.end_date or (scenario.study.end_date if scenario else None)
        estimated = estimate(con, seed=seed, end_date=end_date, horizons=config.horizons,
                             **_suppression(config.min_count))
        dq += gate(con, ("conversion_rates",))
        log_suppression(con)
    _export(con, tmp)
    manifest = StudyManifest(
        input="generated" if scenario else str(config.input),
        versions=_versions(),
        scenario=scenario.to_dict() if scenario else None,
        seed=scenario.seed if scenario else None,
        threshold=config.threshold,
        backend=config.backend,
        input_sha256={Path(k).name: v for k, v in loaded.sha256.items()},
        truth_tables=tuple(truth_tables),
        row_counts=_row_counts(con),
        quarantine=quar,
        quality=tuple(dq),
        generated_truth_counts=generated,
        linkage=linked.facts(),
        estimation=estimated.facts(),
    )
    return manifest, {"preflight": preflight, "link": linked, "evaluation": evaluation,
                      "estimate": estimated, "quality": dq, "quarantine": quar}


def _suppression(min_count: int | None) -> dict[str, int]:
    """Estimator arguments for ``--min-count`` (0 turns the denominator rule off too)."""
    if min_count is None:
        return {}
    from linkage.estimation.disclosure import MIN_DENOMINATOR

    return {"suppress_below": min_count, "min_denominator": MIN_DENOMINATOR if min_count else 0}


def log_suppression(con: duckdb.DuckDBPyConnection) -> int:
    """Log (INFO) how many ``conversion_rates`` cells small-cell suppression hid; return it.

    Suppression is disclosure control working as intended, not a data-quality finding.
    """
    n = con.sql("select count(*) filter (where suppressed) from conversion_rates"
                ).fetchall()[0][0]
    log.info("%d of %d conversion_rates cells suppressed (disclosure control)", n,
             row_count(con, "conversion_rates"))
    return n


def open_study(out: str | Path) -> StudyResult:
    """Reopen a finished study folder (what ``run_study`` or ``linkage run`` wrote).

    The manifest's settings and counts come back (the per-suite data-quality results stay
    in the report); ``rates()``, ``links()``, ``connect()`` and ``report`` read the files.

    Raises:
        OutputError: ``out`` holds no finished study (no manifest.json or study.duckdb).

    Example:
        >>> study = open_study("study_out")  # doctest: +SKIP
        >>> study.rates()[["offense_type", "stage", "estimate"]]  # doctest: +SKIP
    """
    from linkage.summaries import EstimateFacts, LinkFacts, QuarantineResult

    out = Path(out)
    if not (out / "manifest.json").is_file() or not (out / "study.duckdb").is_file():
        raise OutputError(f"{out}: no finished study here (manifest.json and study.duckdb)")
    d = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    q = d.get("quarantine")
    manifest = StudyManifest(
        input=d["input"], toolkit=d.get("toolkit", "linkage"), versions=d.get("versions", {}),
        scenario=d.get("scenario"), seed=d.get("seed"), threshold=d.get("threshold"),
        backend=d.get("backend", "duckdb"), input_sha256=d.get("input_sha256", {}),
        truth_tables=tuple(d.get("truth_tables", ())), row_counts=d.get("row_counts", {}),
        quarantine=None if q is None else QuarantineResult(
            "raw_case_outcomes", q["table"], d.get("row_counts", {}).get(
                "raw_case_outcomes", 0), q["rows"], q["reasons"]),
        generated_truth_counts=d.get("generated_truth_counts", {}),
        linkage=LinkFacts.from_dict(d["linkage"]) if d.get("linkage") else None,
        estimation=EstimateFacts(**d["estimation"]) if d.get("estimation") else None)
    timings = out / manifest.timings
    seconds = (json.loads(timings.read_text(encoding="utf-8")).get("stage_seconds", {})
               if timings.is_file() else {})
    return StudyResult(out, manifest, bool(manifest.truth_tables), seconds)


def _row_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    tables = [r[0] for r in con.sql(
        "select table_name from information_schema.tables where table_schema = 'main' "
        "order by 1").fetchall()]
    return {t: row_count(con, t) for t in tables}


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


def format_summary(result: StudyResult) -> str:
    """The end-of-run summary for a terminal: where the outputs are, linkage and data
    quality in a line each, and the headline table (primary estimate, percent).

    Example:
        >>> print(format_summary(result))  # doctest: +SKIP
        study written to study_out in 31 s
          report.html  report.md  conversion_rates.csv  links.parquet  manifest.json ...
    """
    secs = sum(result.stage_seconds.values())
    lines = [f"study written to {result.out} in {secs:.0f} s",
             "  " + "  ".join(n for n in OUTPUT_FILES if (result.out / n).exists())]
    lk = result.manifest.linkage
    if lk:
        line = (f"linkage: {lk.n_links:,} of {lk.n_referrals:,} referrals linked at "
                f"p >= {lk.threshold:g}")
        ev = result.summaries.get("evaluation")
        if ev is not None:
            line += (f"; against truth precision {ev.splink.precision:.3f}, recall "
                     f"{ev.splink.recall:.3f}, F1 {ev.splink.f1:.3f}")
        lines.append(line)
    dq = result.summaries.get("quality") or []
    warnings = sum(1 for r in dq for e in r.failures if not e.blocking)
    quar = result.manifest.quarantine.n_quarantined if result.manifest.quarantine else 0
    lines.append(f"data quality: {sum(r.success for r in dq)} of {len(dq)} suites passed, "
                 f"{warnings} warning(s); {quar:,} case record(s) quarantined")
    if result.summaries.get("preflight") is not None:
        lines.append(result.summaries["preflight"].line())
    est = result.manifest.estimation
    if not est:
        return "\n".join(lines + ["(no conversion rates: estimation stage unavailable)"])
    with result.connect() as con:
        lines += headline_table(con, est.primary)
    lines.append(f"the answer: section 3 of {result.out / 'report.html'} (open it in a browser)")
    return "\n".join(lines)
