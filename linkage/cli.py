"""The ``linkage`` command line: thin commands over the package's plain functions.

A user's mistake (``ToolkitError``) becomes a one-line message on stderr and the error's
exit code (see ``linkage.errors``); only a bug in the toolkit shows a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from linkage._cli import (
    EXIT_CODES_HELP,
    backend_option,
    echo,
    end_date_option,
    handle_errors,
    horizons_option,
    mapping_option,
    min_count_option,
    quiet_option,
    run_main,
    setup_group,
)
from linkage.cli_simulate import simulate
from linkage.defaults import DEFAULT_SEED
from linkage.review.commands import review


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
    setup_group(ctx, quiet=quiet, log_level=log_level)


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
@quiet_option
@click.pass_context
@handle_errors
def generate(ctx: click.Context, scenario: str, scale: float | None, seed: int | None,
             out_dir: Path, fmt: str) -> None:
    """Generate synthetic tips, referrals and case outcomes with known truth.

    Writes tips, referrals and case_outcomes in the data contract, and truth/truth_links and
    truth/truth_referrals (true stages per referral, uncensored) beside them.

    Example:

        linkage generate --scale 0.01 --seed 7 --out data/ --format csv
    """
    from linkage.generation.scenario import load_scenario
    from linkage.generation.writer import generate as run_generate
    from linkage.progress import progress_bar

    sc = load_scenario(scenario, scale=scale, seed=seed)
    with progress_bar("generate", quiet=ctx.obj["quiet"]) as report:
        summary = run_generate(sc, out_dir, fmt=fmt, on_progress=report)
    c = summary.counts
    echo(ctx, f"wrote {out_dir} ({fmt}) in {summary.seconds:.1f} s: {c['tips']:,} tips, "
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
@mapping_option
@quiet_option
@click.pass_context
@handle_errors
def load(ctx: click.Context, source: Path, db_path: Path, overwrite: bool,
         mapping_path: Path | None) -> None:
    """Load input tables into a study DuckDB file, checking the data contract.

    Any contract violation stops the load with a message naming the file, table, column,
    rule and how many rows break it; nothing is loaded (one transaction).

    Example:

        linkage load --input extract/ --mapping mapping.toml --db study.duckdb
    """
    from linkage.ingest import load_mapping, load_to_file

    summary = load_to_file(source, db_path, overwrite=overwrite,
                           mapping=load_mapping(mapping_path))
    echo(ctx, f"loaded {summary.describe()} into {db_path}")


_DATE = click.DateTime(["%Y-%m-%d"])


@main.command()
@click.option("--input", "source", type=click.Path(path_type=Path), required=True,
              metavar="DIR|FILE",
              help="Input folder or DuckDB file (as for `linkage load`), or a study DuckDB "
                   "file from `linkage load`/`linkage run` (validated in place, read-only).")
@click.option("--suite", default=None, help="Run only this suite (default: every suite whose "
                                             "table is present).")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None,
              help="Write the machine-readable results here (also on a contract violation).")
@click.option("--docs", "docs_dir", type=click.Path(path_type=Path), default=None,
              metavar="DIR", help="Also write offline HTML pages of the results into DIR "
                                  "(replaced; no scripts, styles or images from the network).")
@click.option("--window", nargs=2, type=_DATE, default=None, metavar="START END",
              help="Study window: tips received from START to END (default 1998-01-01 to "
                   "2040-12-31, a plausibility check only).")
@click.option("--extract-date", type=_DATE, default=None,
              help="Date of the data extract: no referral or case date may be later "
                   "(default: the window's END).")
@mapping_option
@quiet_option
@click.pass_context
@handle_errors
def validate(ctx: click.Context, source: Path, suite: str | None, json_out: Path | None,
             docs_dir: Path | None, window: tuple[Any, Any] | None, extract_date: Any,
             mapping_path: Path | None) -> None:
    """Run the data-quality suites (great-expectations) on input files or a DuckDB file.

    Prints one line per failed expectation (table, column, rule and counts, never values)
    and a tally; exits 5 if a critical expectation failed, 4 if the input breaks the data
    contract (the JSON report and pages record that too).

    Example:

        linkage validate --input data/ --window 2024-01-01 2024-12-31 --json dq.json
    """
    from linkage.ingest import load_mapping
    from linkage.quality.results import format_summary
    from linkage.quality.suites import StudyWindow
    from linkage.quality.validate import validate_input

    start, end = (d.date() for d in window) if window else (None, None)
    study_window = StudyWindow.of(start, end, extract_date.date() if extract_date else None)
    run = validate_input(source, suite=suite, window=study_window, json_out=json_out,
                         docs_dir=docs_dir, mapping=load_mapping(mapping_path))
    if run.contract_error is not None:
        raise run.contract_error
    summary = format_summary(run.results)
    if ctx.obj["quiet"]:  # only what made the run fail, as errors
        for line in summary.splitlines():
            if line.startswith("[FAIL]"):
                click.echo(f"error: {line[7:]}", err=True)
    else:
        click.echo(summary)
    sys.exit(run.exit_code)


@main.command()
@click.option("--db", "db_path", type=click.Path(path_type=Path, exists=True), required=True,
              help="Study DuckDB file with raw_* tables (from `linkage load`).")
@click.option("--threshold", type=float, default=None,
              help="Match-probability threshold for links (default 0.5).")
@click.option("--model", "model_path", type=click.Path(path_type=Path), default=None,
              help="Also save the trained Splink model JSON here.")
@backend_option
@quiet_option
@click.pass_context
@handle_errors
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
    from linkage.ingest import link_preflight
    from linkage.linking.metrics import evaluate, has_truth
    from linkage.linking.run import link as run_link

    with connect(db_path) as con:
        echo(ctx, link_preflight(con).line())
        summary = run_link(con, threshold=threshold, model_path=model_path, backend=backend)
        echo(ctx, f"{summary.n_candidate_pairs:,} candidate pairs, {summary.n_links:,} "
                   f"referrals linked at p >= {summary.threshold:g}")
        if has_truth(con):
            ev = evaluate(con)
            echo(ctx, f"against truth: blocking recall {ev.blocking_recall:.4f}, precision "
                       f"{ev.splink.precision:.4f}, recall {ev.splink.recall:.4f}, "
                       f"F1 {ev.splink.f1:.4f}")


@main.command()
@click.option("--db", "db_path", type=click.Path(path_type=Path, exists=True), required=True,
              help="Study DuckDB file after `linkage link` (scored_pairs, links).")
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
              help="Seed of the bootstrap and imputation draws.")
@click.option("--n-boot", type=click.IntRange(min=1), default=200, show_default=True,
              help="Bootstrap x imputation replicates of the primary's interval.")
@click.option("--follow-up-days", type=click.IntRange(min=0), default=365, show_default=True,
              help="Censoring rule: a stage counts when reached within this many days of "
                   "the referral, for referrals at least this old at the end date.")
@end_date_option("the latest case-outcome date")
@click.option("--sibling-share", type=click.FloatRange(0, 1), default=None,
              help="Assumed share of a suspect's repeat referrals to the same agency that "
                   "join its case (default 1): a sensitivity knob, not identifiable.")
@min_count_option(10)
@horizons_option
@click.option("--primary", type=click.Choice(["deterministic", "threshold", "weighted",
                                               "calibrated", "imputed", "reviewed"]),
              default=None, help="Method marked primary [default: reviewed when the database "
                                 "holds review labels, else calibrated].")
@quiet_option
@click.pass_context
@handle_errors
def estimate(ctx: click.Context, db_path: Path, seed: int, n_boot: int, follow_up_days: int,
             end_date: Any, sibling_share: float | None, min_count: int, horizons: str,
             primary: str | None) -> None:
    """Estimate per-offense conversion rates with every method; write conversion_rates.

    Writes conversion_rates (offense type x stage x method, cumulative and conditional,
    with 95% CIs; the primary method marked), conversion_rates_strata (reporter,
    identifier completeness, urgency), conversion_rates_methods and the primary's
    calibration and audit-correction tables, then checks them (exit 5 on a failed gate).

    Example:

        linkage estimate --db study.duckdb --n-boot 200 --follow-up-days 365
    """
    from linkage.db import connect, table_exists
    from linkage.errors import ConfigError
    from linkage.estimation import estimate as run_estimate
    from linkage.estimation.disclosure import MIN_DENOMINATOR
    from linkage.quality.suites import gate
    from linkage.reporting.format import headline_table
    from linkage.study import log_suppression

    with connect(db_path) as con:
        missing = [t for t in ("raw_referrals", "scored_pairs", "links")
                   if not table_exists(con, t)]
        if missing:
            raise ConfigError(f"{db_path} has no {', '.join(missing)}: run `linkage load` and "
                              f"`linkage link --db {db_path}` first")
        summary = run_estimate(con, seed=seed, n_boot=n_boot, follow_up_days=follow_up_days,
                               end_date=end_date.date() if end_date else None,
                               sibling_share=sibling_share, suppress_below=min_count,
                               min_denominator=MIN_DENOMINATOR if min_count else 0,
                               horizons=horizons, primary=primary)
        gate(con, ("conversion_rates",))
        log_suppression(con)
        echo(ctx, f"{summary.n_eligible:,} of {summary.n_referrals:,} referrals with full "
                   f"follow-up ({summary.censoring}); {summary.n_audit_links:,} audit links")
        echo(ctx, "\n".join(headline_table(con, summary.primary)))


@main.command()
@click.option("--scenario", default="default", show_default=True, metavar="NAME|PATH",
              help="Scenario to generate (ignored with --input).")
@click.option("--scale", type=float, default=None,
              help="Share of national volume. Default: the scenario's (0.01 for default); "
                   "a run that would not fit in memory is refused (exit 3).")
@click.option("--seed", type=int, default=None, help="Random seed (default: the scenario's).")
@click.option("--input", "source", type=click.Path(path_type=Path), default=None,
              metavar="DIR|FILE", help="Run on your own data instead (no truth).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("study_out"),
              show_default=True, help="Output folder (replaced atomically).")
@click.option("--threshold", type=float, default=None, help="Link threshold (default 0.5).")
@click.option("--quarantine-tolerance", type=click.FloatRange(0, 1), default=0.01,
              show_default=True,
              help="Largest share of case records with stage dates out of order that is "
                   "quarantined (quarantine_case_outcomes); above it the run stops (exit 5).")
@min_count_option(None)
@end_date_option("the scenario's extract date; with --input, the latest case-outcome date")
@horizons_option
@mapping_option
@backend_option
@quiet_option
@click.pass_context
@handle_errors
def run(ctx: click.Context, scenario: str, scale: float | None, seed: int | None,
        source: Path | None, out_dir: Path, threshold: float | None, quarantine_tolerance:
        float, min_count: int | None, end_date: Any, horizons: str, mapping_path: Path | None,
        backend: str) -> None:
    """Run a whole study: generate or load, validate, link, estimate, report.

    Writes study.duckdb, links.parquet, conversion_rates.csv, report.html, report.md,
    manifest.json (and the generated data/ with its truth) into --out.

    Example:

        linkage run --scale 0.05 --seed 3 --out study_out

        linkage run --input extract/ --mapping mapping.toml --out my_study
    """
    from linkage.progress import progress_bar
    from linkage.study import StudyConfig, format_summary, run_study

    config = StudyConfig(scenario=scenario, scale=scale, seed=seed, input=source,
                         out=out_dir, threshold=threshold,
                         quarantine_tolerance=quarantine_tolerance, backend=backend,
                         mapping=mapping_path, min_count=min_count,
                         end_date=end_date.date() if end_date else None, horizons=horizons)
    with progress_bar("study", quiet=ctx.obj["quiet"]) as report:
        result = run_study(config, on_progress=report)
    echo(ctx, format_summary(result))


@main.command()
@click.option("--input", "source", type=click.Path(path_type=Path), required=True,
              metavar="DIR|FILE", help="Input folder or DuckDB file (as for `linkage load`); "
                                       "a truth/ folder beside it is carried too.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Folder to write (replaced atomically if it exists).")
@click.option("--key-env", required=True, metavar="VAR",
              help="NAME of the environment variable holding the secret key (at least 32 "
                   "bytes). The key is never read from the command line or a file.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet",
              show_default=True)
@quiet_option
@click.pass_context
@handle_errors
def pseudonymize(ctx: click.Context, source: Path, out_dir: Path, key_env: str,
                 fmt: str) -> None:
    """Replace identifiers by keyed tokens and encodings that still link.

    Standardises identifiers by the linkage's staging rules, then writes tips, referrals
    and case_outcomes in the data contract with every subject identifier (and the tip
    number) replaced by an HMAC-SHA256 token, plus the encodings fuzzy linkage needs
    (keyed Bloom filters of names, date-of-birth and phone tokens) and
    pseudonymisation.json. `linkage load`, `linkage link` and `linkage run --input` detect
    pseudonymised input and link it on the encodings.

    Example:

        export LINKAGE_KEY="$(openssl rand -hex 32)"

        linkage pseudonymize --input data/ --out pseudo/ --key-env LINKAGE_KEY
    """
    from linkage.ingest.pseudonyms import pseudonymize as run_pseudonymize
    from linkage.ingest.pseudonyms import read_key
    from linkage.progress import progress_bar

    read_key(key_env)  # a missing or short key fails before any progress is drawn
    with progress_bar("pseudonymize", quiet=ctx.obj["quiet"]) as report:
        summary = run_pseudonymize(source, out_dir, key_env=key_env, fmt=fmt,
                                   on_progress=report)
    counts = ", ".join(f"{n:,} {t}" for t, n in summary.row_counts.items())
    dropped = sum(len(c) for c in summary.dropped_columns.values())
    echo(ctx, f"wrote {out_dir} ({fmt}): {counts}; key check {summary.key_check}"
               + (f"; {dropped} extra column(s) dropped" if dropped else ""))


@main.command()
@quiet_option
@click.pass_context
def scenarios(ctx: click.Context) -> None:
    """List the scenarios (worlds) that ship with the toolkit, each with what it stresses.

    Example:

        linkage scenarios
    """
    from linkage.generation.scenario import describe_scenarios

    listed = describe_scenarios()
    width = max(len(name) for name, _ in listed)
    for name, description in listed:
        echo(ctx, f"{name:<{width}}  {description}")


main.add_command(review)
main.add_command(simulate)


def entry() -> None:
    """Console-script entry point (``linkage``): run ``main``, exit with its code."""
    run_main(main)
