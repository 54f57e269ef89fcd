"""``linkage review``: the clerical-review commands (thin: each calls one plain function).

Kept beside the stage rather than in :mod:`linkage.cli` so that module stays within the
size limit; ``linkage.cli`` adds the group to the command line.
"""

from __future__ import annotations

from pathlib import Path

import click

from linkage._cli import echo, handle_errors, quiet_option
from linkage.defaults import DEFAULT_SEED

_DB = click.option("--db", "db_path", type=click.Path(path_type=Path, exists=True),
                   required=True, help="Study DuckDB file after `linkage link`.")


@click.group()
def review() -> None:
    """Clerical review: a designed sample of referrals whose labels measure linkage error.

    Example:

        linkage review sample --db study.duckdb --size 500 --out review.csv

        linkage review import --db study.duckdb --labels review.csv

        linkage review rates --db study.duckdb
    """


@review.command("sample")
@_DB
@click.option("--size", type=click.IntRange(min=1), required=True,
              help="Referrals to sample (all of them when larger than the study).")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True,
              help="Review CSV file to write (holds identifiers).")
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
              help="Seed of the draw (same seed and study = same sample).")
@click.option("--max-candidates", type=click.IntRange(min=1), default=5, show_default=True,
              help="Candidate cases shown per sampled referral (its best-scoring ones).")
@click.option("--html", type=click.Path(path_type=Path), default=None,
              help="Also write an offline HTML page of the pairs side by side.")
@quiet_option
@click.pass_context
@handle_errors
def sample(ctx: click.Context, db_path: Path, size: int, out: Path, seed: int,
           max_candidates: int, html: Path | None) -> None:
    """Draw a stratified probability sample of referrals for clerical review.

    Strata are offense type x the band of the best match probability; offense types share
    the sample as the square root of their size and, within one, the uncertain bands get
    most of it. Writes one row per sampled referral and candidate case (a blank case_id
    where there is none) with the inclusion probability, a blank decision and both records'
    standardised identifiers (tokens for pseudonymised input). The file (and the page)
    hold record-level identifiers: a warning on stderr says so; keep them with the study
    data.

    Example:

        linkage review sample --db study.duckdb --size 500 --out review.csv --seed 1
    """
    from linkage.db import connect
    from linkage.review.sample import draw_sample

    with connect(db_path) as con:
        s = draw_sample(con, size, out, seed=seed, max_candidates=max_candidates, html=html)
    echo(ctx, f"sampled {s.n_sampled:,} of {s.n_referrals:,} referrals in {s.n_strata} "
              f"strata; wrote {s.n_rows:,} row(s) to {out}")


@review.command("import")
@_DB
@click.option("--labels", type=click.Path(path_type=Path), required=True,
              help="The review CSV file with decision filled in (match, no_match, unsure).")
@quiet_option
@click.pass_context
@handle_errors
def import_(ctx: click.Context, db_path: Path, labels: Path) -> None:
    """Validate the reviewer's decisions and store them (replacing earlier labels).

    A bad file stops with one line naming the line and the rule (exit 10); the database is
    then unchanged.

    Example:

        linkage review import --db study.duckdb --labels review.csv
    """
    from linkage.db import connect
    from linkage.review.labels import import_labels

    with connect(db_path) as con:
        s = import_labels(con, labels)
    echo(ctx, f"imported {s.n_rows:,} row(s) for {s.n_referrals:,} sampled referrals: "
              f"{s.n_match:,} match, {s.n_no_match:,} no_match, {s.n_unsure:,} unsure")


@review.command("rates")
@_DB
@click.option("--follow-up-days", type=click.IntRange(min=0), default=365, show_default=True,
              help="Censoring rule, as for `linkage estimate`.")
@click.option("--end-date", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Study end (extract) date. Default: the latest date in the data.")
@quiet_option
@click.pass_context
@handle_errors
def rates(ctx: click.Context, db_path: Path, follow_up_days: int, end_date) -> None:
    """Design-weighted false- and missed-link rates and review-corrected conversion rates.

    Writes review_error_rates and review_conversion_rates into the study database and
    prints the overall figures.

    Example:

        linkage review rates --db study.duckdb --follow-up-days 365
    """
    from linkage.db import connect
    from linkage.review.estimates import format_review_rates, publish_review_rates

    with connect(db_path) as con:
        errors, converted = publish_review_rates(
            con, follow_up_days=follow_up_days, end=end_date.date() if end_date else None)
    echo(ctx, format_review_rates(errors, converted))


@review.command("simulate")
@_DB
@click.option("--sheet", type=click.Path(path_type=Path), required=True,
              help="The review CSV file `linkage review sample` wrote.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Answered labels CSV to write.")
@click.option("--error-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of sampled referrals the simulated reviewer gets wrong.")
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True)
@quiet_option
@click.pass_context
@handle_errors
def simulate(ctx: click.Context, db_path: Path, sheet: Path, out: Path, error_rate: float,
             seed: int) -> None:
    """Answer a review file from the truth (synthetic studies only), as a reviewer would.

    Example:

        linkage review simulate --db study.duckdb --sheet review.csv --out labels.csv
    """
    from linkage.db import connect
    from linkage.review.reviewer import simulate_review

    with connect(db_path, read_only=True) as con:
        simulate_review(con, sheet, out, error_rate=error_rate, seed=seed)
    echo(ctx, f"wrote {out}")


@review.command("plan")
@_DB
@click.option("--sizes", default="200,500,1000,2000", show_default=True,
              help="Review sizes to project, comma-separated.")
@click.option("--follow-up-days", type=click.IntRange(min=0), default=365, show_default=True)
@quiet_option
@click.pass_context
@handle_errors
def plan(ctx: click.Context, db_path: Path, sizes: str, follow_up_days: int) -> None:
    """From a pilot review, the 95% half-width of each overall corrected rate at other
    review sizes (same design): how many referrals to review for +/- X pp.

    Example:

        linkage review plan --db study.duckdb --sizes 200,500,1000,2000
    """
    from linkage.db import connect
    from linkage.review.planning import format_plan, plan_review

    try:
        grid = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(f"whole numbers separated by commas, got {sizes!r}",
                                 param_hint="--sizes") from None
    with connect(db_path) as con:
        table = plan_review(con, sizes=grid, follow_up_days=follow_up_days)
    echo(ctx, format_plan(table))
