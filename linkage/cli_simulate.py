"""``linkage simulate``: the methodology simulation and the stress matrix, a command of
``linkage.cli`` kept in its own module so that each stays small."""

from __future__ import annotations

from pathlib import Path

import click

from linkage._cli import echo, float_list, handle_errors, int_list, quiet_option
from linkage.defaults import SIMULATION_SEED
from linkage.errors import ConfigError


@click.command()
@click.option("--scenario", default="default", show_default=True, metavar="A,B,...",
              help="World(s) every replicate is generated from: shipped scenario names or "
                   "TOML paths, comma-separated (see `linkage scenarios`).")
@click.option("--scale", type=click.FloatRange(min=0, min_open=True), default=0.02,
              show_default=True, help="Scale of every replicate.")
@click.option("--replicates", type=click.IntRange(min=1), default=10, show_default=True,
              help="Replicates per world.")
@click.option("--seed", type=int, default=SIMULATION_SEED, show_default=True,
              help="Seed of the first replicate (then seed + 1, ...; the same in every world).")
@click.option("--n-boot", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes, each with one DuckDB thread (one per core).")
@click.option("--full", is_flag=True,
              help="Run each replicate as a whole study run does (every tip, Splink charts, "
                   "every stratum, u from 2M pairs): to check the lean replicate.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("sim_out"),
              show_default=True,
              help="Folder for matrix.csv, matrix.html and the replicate rows (an "
                   "interrupted run resumes).")
@click.option("--sweep", "knob", default=None, metavar="KEY",
              help="A dotted scenario key to sweep, e.g. completeness.small.email.")
@click.option("--values", default="0.5,1.0,2.0", show_default=True, callback=float_list,
              help="Comma-separated values of --sweep.")
@click.option("--review-size", "review_sizes", default="0", show_default=True,
              callback=int_list, metavar="N,N,...",
              help="Simulated clerical reviews of these many referrals in every replicate, "
                   "each scored as method reviewed_<N> (0 = none).")
@click.option("--reviewer-error-rate", type=click.FloatRange(0, 1), default=0.0,
              show_default=True, help="Share of referrals the simulated reviewer gets wrong.")
@quiet_option
@click.pass_context
@handle_errors
def simulate(ctx: click.Context, scenario: str, scale: float, replicates: int, seed: int,
             n_boot: int, jobs: int, full: bool, out_dir: Path, knob: str | None,
             values: list[float], review_sizes: list[int], reviewer_error_rate: float) -> None:
    """Methodology simulation: bias, RMSE and 95% CI coverage of every estimator.

    Each replicate generates fresh data from a world, runs the pipeline and scores every
    method's rates against the truth. Several worlds make the stress matrix (matrix.csv:
    one row per world x method x offense type x stage x rate kind; matrix.html: heatmaps
    of bias and coverage). With --sweep, the same over values of one scenario knob.

    Example:

        linkage simulate --scenario default,drift --replicates 20 --jobs 2 --out m/

        linkage simulate --sweep completeness.small.email --values 0.3,0.55,0.8

        linkage simulate --scenario uneven_audit --review-size 0,200,500,1000
    """
    from linkage.progress import progress_bar
    from linkage.simulate import ReviewSweep, format_headline, format_sweep, run_matrix, sweep

    sizes = tuple(n for n in review_sizes if n > 0)
    review = ReviewSweep(sizes, reviewer_error_rate) if sizes else None
    if review is not None and knob is not None:
        raise ConfigError("--review-size goes with the matrix, not with --sweep")
    worlds = [w.strip() for w in scenario.split(",") if w.strip()]
    with progress_bar("simulate", quiet=ctx.obj["quiet"]) as report:
        if knob is None:
            result = run_matrix(
                worlds, scale=scale, replicates=replicates, seed=seed, n_boot=n_boot,
                jobs=jobs, lean=not full, out=out_dir, review=review,
                on_replicate=lambda w, i, secs, done, total: report(
                    f"{w} replicate {i + 1} ({secs:.0f} s)", done / max(total, 1)))
            text = format_headline(result.matrix)
        else:
            table = sweep(knob, values, scale=scale, replicates=replicates, seed=seed,
                          n_boot=n_boot, base=worlds, out=out_dir, lean=not full,
                          on_replicate=lambda i, secs: report(
                              f"replicate {i + 1} ({secs:.0f} s)", (i + 1) / replicates))
            text = format_sweep(table, knob)
    echo(ctx, text)
    echo(ctx, f"results in {out_dir}")
