"""The ``linkage`` command line: thin commands over the package's plain functions.

A user's mistake (``ToolkitError``) becomes a one-line message on stderr and the error's
exit code (see ``linkage.errors``); only a bug in the toolkit shows a traceback.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from linkage.errors import ToolkitError

log = logging.getLogger("linkage")

EXIT_CODES_HELP = """Exit codes: 0 ok, 2 bad command-line usage, 3 bad scenario or configuration,
4 input violates the data contract, 5 data-quality gate failed, 6 linkage model failed,
7 output cannot be written, 8 backend unavailable (--backend spark without pyspark or Java),
1 internal error."""


EXIT_INTERRUPTED = 130  # the shell's convention for Ctrl-C (128 + SIGINT)


def _handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ToolkitError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            # Outputs are written atomically, so an interrupted run left nothing half-done.
            click.echo("interrupted: nothing was written", err=True)
            sys.exit(EXIT_INTERRUPTED)

    return wrapper


def _quiet_splink(record: logging.LogRecord) -> bool:
    """Drop Splink's warnings (untrained m/u levels, missing null levels): model-building
    detail, shown from ``--log-level INFO``. A filter on the handler, not a logger level,
    because Splink's ``Linker`` resets its own logger's level when it is created."""
    return not record.name.startswith("splink") or record.levelno >= logging.ERROR


def _echo(ctx: click.Context, message: str) -> None:
    if not ctx.obj["quiet"]:
        click.echo(message)


def _go_quiet(ctx: click.Context) -> None:
    """Errors only: no progress, no summary, and warnings hidden unless --log-level asks."""
    ctx.obj["quiet"] = True
    root = ctx.find_root()
    if root.get_parameter_source("log_level") is click.core.ParameterSource.DEFAULT:
        logger, previous = logging.getLogger(), logging.getLogger().level
        logger.setLevel(logging.ERROR)
        root.call_on_close(lambda: logger.setLevel(previous))  # in-process callers (tests)


def _quiet_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--quiet`` after the command name too (``linkage run --quiet``), as before it."""

    def callback(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value:
            _go_quiet(ctx)

    return click.option("--quiet", "-q", is_flag=True, expose_value=False, callback=callback,
                        help="No progress bars or summaries (errors only).")(func)


def _backend_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--backend``: where Splink trains and scores (DuckDB in-process, or Spark)."""
    return click.option(
        "--backend", type=click.Choice(["duckdb", "spark"]), default="duckdb",
        show_default=True,
        help="Run Splink on DuckDB or on Spark (needs the [spark] extra and Java 17+; "
             "the session is configured as the README's Spark section says).")(func)


@click.group(epilog=EXIT_CODES_HELP)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or summaries (errors only).")
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="WARNING",
    show_default=True,
    help="Logging detail on stderr (logs hold counts, never record-level identifiers).",
)
@click.version_option(package_name="linkage")
@click.pass_context
def main(ctx: click.Context, quiet: bool, log_level: str) -> None:
    """Referral-to-outcome linkage studies: synthetic data with known truth, DuckDB storage,
    Splink linkage and per-offense conversion rates with linkage-aware uncertainty."""
    level = getattr(logging, log_level.upper())
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    if level >= logging.WARNING:
        handlers = list(logging.getLogger().handlers)
        for handler in handlers:
            handler.addFilter(_quiet_splink)
        ctx.call_on_close(lambda: [h.removeFilter(_quiet_splink) for h in handlers])
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = False
    if quiet:
        _go_quiet(ctx)


@main.command()
@click.option("--scenario", default="default", show_default=True, metavar="NAME|PATH",
              help="A shipped scenario name or a TOML file (see `linkage scenarios`).")
@click.option("--scale", type=float, default=None,
              help="Share of national volume (1.0 = a full year, 20.5M tips). "
                   "Default: the scenario's.")
@click.option("--seed", type=int, default=None, help="Random seed. Default: the scenario's.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Folder to write (replaced atomically if it exists).")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet",
              show_default=True)
@_quiet_option
@click.pass_context
@_handle_errors
def generate(ctx: click.Context, scenario: str, scale: float | None, seed: int | None,
             out_dir: Path, fmt: str) -> None:
    """Generate synthetic tips, referrals and case outcomes with known truth.

    Writes tips, referrals and case_outcomes in the data contract, and truth/truth_links and
    truth/truth_referrals (true stages per referral, uncensored) beside them.

    Example:

        linkage generate --scale 0.01 --seed 7 --out data/ --format csv
    """
    from linkage.generate import generate as run_generate
    from linkage.progress import progress_bar
    from linkage.scenario import load_scenario

    sc = load_scenario(scenario, scale=scale, seed=seed)
    with progress_bar("generate", quiet=ctx.obj["quiet"]) as report:
        summary = run_generate(sc, out_dir, fmt=fmt, on_progress=report)
    c = summary.counts
    _echo(ctx, f"wrote {out_dir} ({fmt}) in {summary.seconds:.1f} s: {c['tips']:,} tips, "
               f"{c['referrals']:,} referrals, {c['case_outcomes']:,} case records; truth: "
               f"{c['investigations']:,} investigated, {c['arrests']:,} arrested, "
               f"{c['charges']:,} charged, {c['convictions']:,} convicted")


@main.command()
@click.option("--input", "source", type=click.Path(path_type=Path), required=True,
              metavar="DIR|FILE",
              help="A folder of tips/referrals/case_outcomes .csv or .parquet files, "
                   "or a DuckDB file holding those tables.")
@click.option("--db", "db_path", type=click.Path(path_type=Path), required=True,
              help="Study DuckDB file to create (raw_* tables).")
@click.option("--overwrite", is_flag=True, help="Replace raw_* tables already in --db.")
@_quiet_option
@click.pass_context
@_handle_errors
def load(ctx: click.Context, source: Path, db_path: Path, overwrite: bool) -> None:
    """Load input tables into a study DuckDB file, checking the data contract.

    Any contract violation stops the load with a message naming the file, table, column,
    rule and how many rows break it; nothing is loaded (one transaction).

    Example:

        linkage load --input data/ --db study.duckdb
    """
    from linkage.load import load_to_file

    summary = load_to_file(source, db_path, overwrite=overwrite)
    counts = ", ".join(f"{n:,} {t}" for t, n in summary.row_counts.items())
    _echo(ctx, f"loaded {counts} into {db_path}")


@main.command()
@click.option("--input", "source", type=click.Path(path_type=Path), required=True,
              metavar="DIR|FILE", help="Input folder or DuckDB file (as for `linkage load`).")
@click.option("--suite", default=None, help="Run only this suite (default: every suite whose "
                                             "table is present).")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None,
              help="Write the machine-readable results here.")
@click.pass_context
@_handle_errors
def validate(ctx: click.Context, source: Path, suite: str | None, json_out: Path | None) -> None:
    """Run the data-quality suites (great-expectations) on input files or a DuckDB file.

    Prints one line per failed expectation (counts, never values) and a tally; exits 5 if a
    critical expectation failed, 4 if the input breaks the data contract.

    Example:

        linkage validate --input data/ --json dq.json
    """
    from linkage.quality import format_summary, validate_input

    results = validate_input(source, suite=suite, json_out=json_out)
    click.echo(format_summary(results))
    if not all(r.success for r in results):
        sys.exit(5)


@main.command()
@click.option("--db", "db_path", type=click.Path(path_type=Path, exists=True), required=True,
              help="Study DuckDB file with raw_* tables (from `linkage load`).")
@click.option("--threshold", type=float, default=None,
              help="Match-probability threshold for links (default 0.5).")
@click.option("--model", "model_path", type=click.Path(path_type=Path), default=None,
              help="Also save the trained Splink model JSON here.")
@_backend_option
@_quiet_option
@click.pass_context
@_handle_errors
def link(ctx: click.Context, db_path: Path, threshold: float | None,
         model_path: Path | None, backend: str) -> None:
    """Link referrals to case outcomes with Splink (unsupervised) and write `links`.

    Writes stg_* (standardised), scored_pairs (every candidate pair with its probability)
    and links (best case per referral above the threshold) into the study database; with
    truth tables present, also the evaluation tables (precision, recall, calibration).

    Example:

        linkage link --db study.duckdb --threshold 0.8

        linkage link --db study.duckdb --backend spark
    """
    from linkage.db import connect
    from linkage.evaluate import evaluate, has_truth
    from linkage.link import link as run_link

    with connect(db_path) as con:
        summary = run_link(con, threshold=threshold, model_path=model_path, backend=backend)
        _echo(ctx, f"{summary.n_candidate_pairs:,} candidate pairs, {summary.n_links:,} "
                   f"referrals linked at p >= {summary.threshold:g}")
        if has_truth(con):
            ev = evaluate(con)
            _echo(ctx, f"against truth: blocking recall {ev.blocking_recall:.4f}, precision "
                       f"{ev.splink.precision:.4f}, recall {ev.splink.recall:.4f}, "
                       f"F1 {ev.splink.f1:.4f}")


@main.command()
@click.option("--scenario", default="default", show_default=True, metavar="NAME|PATH",
              help="Scenario to generate (ignored with --input).")
@click.option("--scale", type=float, default=None,
              help="Share of national volume (default 0.02: about a minute here).")
@click.option("--seed", type=int, default=None, help="Random seed (default: the scenario's).")
@click.option("--input", "source", type=click.Path(path_type=Path), default=None,
              metavar="DIR|FILE", help="Run on your own data instead (no truth).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("study_out"),
              show_default=True, help="Output folder (replaced atomically).")
@click.option("--threshold", type=float, default=None, help="Link threshold (default 0.5).")
@_backend_option
@_quiet_option
@click.pass_context
@_handle_errors
def run(ctx: click.Context, scenario: str, scale: float | None, seed: int | None,
        source: Path | None, out_dir: Path, threshold: float | None, backend: str) -> None:
    """Run a whole study: generate or load, validate, link, estimate, report.

    Writes study.duckdb, links.parquet, conversion_rates.csv, report.html, report.md,
    manifest.json (and the generated data/ with its truth) into --out.

    Example:

        linkage run --scale 0.05 --seed 3 --out study_out
    """
    from linkage.progress import progress_bar
    from linkage.study import StudyConfig, format_summary, run_study

    config = StudyConfig(scenario=scenario, scale=scale, seed=seed, input=source,
                         out=out_dir, threshold=threshold, backend=backend)
    with progress_bar("study", quiet=ctx.obj["quiet"]) as report:
        result = run_study(config, on_progress=report)
    _echo(ctx, format_summary(result))


@main.command()
def scenarios() -> None:
    """List the scenarios that ship with the toolkit.

    Example:

        linkage scenarios
    """
    from linkage.scenario import available_scenarios

    for name in available_scenarios():
        click.echo(name)


def entry() -> None:
    """Console-script entry point: run ``main`` and exit with its code.

    When great-expectations and duckdb-engine were imported, duckdb 2.0 prints dozens of
    cosmetic "nanobind: leaked ..." lines while the interpreter tears down (exit code
    unaffected). We flush our output and leave without that teardown instead.
    """
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if "great_expectations" in sys.modules:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
