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
7 output cannot be written, 1 internal error."""


def _handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ToolkitError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper


def _echo(ctx: click.Context, message: str) -> None:
    if not ctx.obj["quiet"]:
        click.echo(message)


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
    logging.basicConfig(level=getattr(logging, log_level.upper()), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet


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
