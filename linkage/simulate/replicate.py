"""Methodology simulation: bias, RMSE and 95% CI coverage of every estimator, per cell.

Each replicate generates a fresh synthetic study (its own seed), loads it, links it with
Splink, runs :func:`linkage.estimation.run.estimate` without suppression and scores every
method's cumulative and conditional rates against the truth. **The truth is the realised
share of this replicate's referrals** that reached the stage under the same censoring rule
as the estimators (``truth_cells``, from ``truth_referrals``' true dates):
the finite-population quantity a study reports, which is also what the intervals target.

A replicate is **lean** by default (computes only what it scores); ``lean=False`` runs it
as a whole study would. ``rows.attrs["horizons"]`` holds the time-to-event rows, scored.

``sweep`` reruns the simulation over values of one scenario knob (a dotted key such as
``corruption.noise`` or ``completeness.small.email``); the stress matrix over several worlds
is :mod:`linkage.simulate.matrix`.

Example:
    >>> simulate(scale=0.02, replicates=2, seed=1).summary.head()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from linkage.db import connect, quote_literal, row_count
from linkage.defaults import DEFAULT_SEED, SIMULATION_SEED
from linkage.errors import ConfigError
from linkage.estimation import estimate
from linkage.estimation.truth import horizon_scores, truth_comparison
from linkage.generation import Scenario, generate, load_scenario
from linkage.ingest import load_input, load_truth
from linkage.linking import link
from linkage.outputs import output_lock
from linkage.reporting.simulation import (
    summarise,
)
from linkage.review.reviewer import simulated_review

__all__ = ["ReviewSweep", "SimulationResult", "lean_u_max_pairs", "linked_replicate",
           "override_scenario", "run_replicate", "score_replicate", "simulate", "sweep"]

log = logging.getLogger(__name__)

ReplicateCallback = Callable[[int, float], None]

def lean_u_max_pairs(n_referrals: int, n_cases: int) -> float:
    """The u sample a replicate links with: ``linkage.linking.training.u_sample_pairs``
    (what ``link`` uses by default).

    Example:
        >>> lean_u_max_pairs(41_000, 12_000)
        410000.0
    """
    from linkage.linking.training import u_sample_pairs  # Splink loads when linking

    return u_sample_pairs(n_referrals, n_cases)


@dataclass(frozen=True)
class SimulationResult:
    """Replicate-level rows and the per-cell summary.

    Attributes:
        replicates: one row per replicate x method x cell: estimate, ci_low, ci_high, truth.
        summary: per method x cell: replicates, mean n_referrals, mean truth and estimate,
            bias, RMSE and coverage (share of replicates whose CI holds the truth).
    """

    replicates: pd.DataFrame
    summary: pd.DataFrame


def run_replicate(
    scenario: Scenario, workdir: str | Path, *, n_boot: int = 100, seed: int = DEFAULT_SEED,
    lean: bool = True, review: ReviewSweep | None = None,
) -> pd.DataFrame:
    """One replicate (generate, load, link, estimate, truth) as scored rows; each step's
    seconds in ``.attrs["seconds"]``; ``review`` as for ``score_replicate``.

    A lean replicate computes only what is scored: the tips never referred are not
    generated (nothing but the tip funnel reads them), the study database stays in
    memory, Splink draws no charts, samples ``lean_u_max_pairs`` pairs for u, and the
    estimators run over offense types only (``conversion_rates`` and the horizons). The
    offense-type rates then come from the same referrals, cases and random draws as in a
    full replicate (``lean=False``, as ``linkage run`` does it); only the u sample is
    smaller. EM runs as in a study: its blocks hold far fewer pairs than its cap.

    Example:
        >>> run_replicate(load_scenario("default", scale=0.01), "/tmp/r").shape  # doctest: +SKIP
    """
    seconds: dict[str, float] = {}
    con = linked_replicate(scenario, workdir, seed=seed, lean=lean, seconds=seconds)
    try:
        rows = score_replicate(con, scenario, n_boot=n_boot, seed=seed, lean=lean,
                               seconds=seconds, review=review)
    finally:
        con.close()
    rows.attrs["seconds"] = seconds
    return rows


def _lap(seconds: dict[str, float], step: str, t0: float) -> float:
    now = time.perf_counter()
    seconds[step] = round(now - t0, 3)
    return now


def linked_replicate(
    scenario: Scenario, workdir: str | Path, *, seed: int = DEFAULT_SEED, lean: bool = True,
    seconds: dict[str, float] | None = None,
) -> duckdb.DuckDBPyConnection:
    """The first half of ``run_replicate``: generate, load (with truth) and link; returns
    the open study connection (in memory when ``lean``). ``seconds`` gets each step's.
    Example: ``score_replicate(linked_replicate(sc, "/tmp/rep"), sc)``."""
    work = Path(workdir)
    seconds = {} if seconds is None else seconds
    t0 = time.perf_counter()
    generate(scenario, work / "data", fmt="parquet", referred_tips_only=lean)
    t0 = _lap(seconds, "generate", t0)
    con = connect(":memory:" if lean else work / "study.duckdb")
    try:
        if lean:
            con.execute(f"set temp_directory = {quote_literal(str(work / 'spill'))}")
        load_input(work / "data", con)
        load_truth(work / "data" / "truth", con)
        t0 = _lap(seconds, "load", t0)
        options: dict = {}
        if lean:
            n_pairs = lean_u_max_pairs(row_count(con, "raw_referrals"),
                                       row_count(con, "raw_case_outcomes"))
            options = {"charts": False, "u_max_pairs": n_pairs}
        link(con, seed=seed, **options)
        _lap(seconds, "link", t0)
    except BaseException:
        con.close()
        raise
    return con


def score_replicate(
    con: duckdb.DuckDBPyConnection, scenario: Scenario, *, n_boot: int = 100,
    seed: int = DEFAULT_SEED, lean: bool = True, seconds: dict[str, float] | None = None,
    review: ReviewSweep | None = None,
) -> pd.DataFrame:
    """The second half of ``run_replicate``: estimate on a linked study (unsuppressed) and
    join every method's rates to the truth. ``run_replicate`` is ``linked_replicate`` then
    this; ``benchmarks/matrix_cache.py`` calls it on kept links. With ``review``, then
    for each review size a simulated review and the ``reviewed`` estimator's rows, as
    method ``reviewed_<size>`` (``review_size`` says the size; 0 on the other rows)."""
    seconds = {} if seconds is None else seconds
    t0 = time.perf_counter()
    summary = _estimate(con, scenario, n_boot, seed, lean)
    t0 = _lap(seconds, "estimate", t0)
    truth_comparison(con, summary.follow_up_days, publish=False)
    truth = con.table("truth_cells").df()
    rows = _scored(con, truth).assign(review_size=0)
    rows.attrs["horizons"] = horizon_scores(con)
    t0 = _lap(seconds, "truth", t0)
    if review is not None:
        frames = [rows]
        for size in review.sizes:  # review sizes, a handful
            simulated_review(con, size, seed=seed, error_rate=review.error_rate)
            # only the reviewed rows are kept: the others' intervals need no redraw
            _estimate(con, scenario, 1, seed, lean, primary="reviewed")
            got = _scored(con, truth)
            frames.append(got[got.method == "reviewed"].assign(
                method=f"reviewed_{size}", review_size=size))
        rows = pd.concat(frames, ignore_index=True).pipe(_keep_attrs, rows.attrs)
        _lap(seconds, "review", t0)
    return rows


@dataclass(frozen=True)
class ReviewSweep:
    """Simulated clerical reviews scored in every replicate: their sizes (referrals) and
    the simulated reviewer's error rate."""

    sizes: tuple[int, ...]
    error_rate: float = 0.0


def _estimate(con: duckdb.DuckDBPyConnection, scenario: Scenario, n_boot: int, seed: int,
              lean: bool, **kw: object):
    options = {"dimensions": ("offense_type",), "companions": False} if lean else {}
    return estimate(con, seed=seed, n_boot=n_boot, suppress_below=0, min_denominator=0,
                    comparisons=False, end_date=scenario.study.end_date, **options, **kw)


def _scored(con: duckdb.DuckDBPyConnection, truth: pd.DataFrame) -> pd.DataFrame:
    est = con.sql(
        "select method, offense_type, stage, rate_kind, n_referrals, estimate, ci_low,"
        " ci_high, bound_low, bound_high from conversion_rates"
    ).df()
    return est.merge(truth, on=["offense_type", "stage", "rate_kind"], how="left")


def _keep_attrs(frame: pd.DataFrame, attrs: dict) -> pd.DataFrame:
    frame.attrs.update(attrs)
    return frame


REPLICATES_FILE = "replicates.csv"
SUMMARY_FILE = "summary.csv"


def simulate(
    scenario: str | Path = "default",
    *,
    scale: float,
    replicates: int,
    seed: int = SIMULATION_SEED,
    n_boot: int = 100,
    out: str | Path | None = None,
    on_replicate: ReplicateCallback | None = None,
    lean: bool = True,
) -> SimulationResult:
    """Run ``replicates`` replicates (seeds ``seed``, ``seed + 1``, ...) and summarise.

    With ``out``, each replicate's rows are appended to ``out/replicates.csv`` as soon as
    it is done and ``out/summary.csv`` is rewritten, so a long run can be watched, and an
    interrupted one resumes where it stopped (replicates already in the file are kept).

    Args:
        scenario: shipped scenario name or TOML path.
        scale: scenario scale of every replicate.
        replicates: number of replicates.
        seed: first replicate's seed.
        n_boot: bootstrap/imputation draws per replicate.
        out: folder for the replicate rows and the summary (None: kept in memory only).
        on_replicate: called with (replicate number, seconds) after each replicate.
        lean: lean replicates (see ``run_replicate``).

    Example:
        >>> simulate(scale=0.002, replicates=2, out="sim_out").summary  # doctest: +SKIP
    """
    folder = Path(out) if out is not None else None
    with locked(folder):
        return _simulate(scenario, scale, replicates, seed, n_boot, folder, on_replicate, lean)


@contextmanager
def locked(folder: Path | None) -> Iterator[None]:
    """Hold ``folder``'s output lock (when there is one): a second simulation on the same
    folder would interleave its rows with ours."""
    with output_lock(folder) if folder is not None else nullcontext():
        yield


def _simulate(scenario: str | Path, scale: float, replicates: int, seed: int, n_boot: int,
              folder: Path | None, on_replicate: ReplicateCallback | None, lean: bool,
              ) -> SimulationResult:
    reps_path = folder / REPLICATES_FILE if folder else None
    frames: list[pd.DataFrame] = []
    if reps_path is not None:
        folder.mkdir(parents=True, exist_ok=True)
        if reps_path.exists():
            frames.append(pd.read_csv(reps_path))
    start = int(frames[0]["replicate"].max()) + 1 if frames else 0
    for i in range(start, replicates):  # replicates, each a full pipeline run
        t0 = time.perf_counter()
        sc = load_scenario(scenario, scale=scale, seed=seed + i)
        with tempfile.TemporaryDirectory(prefix="linkage_sim_") as tmp:
            rows = run_replicate(sc, tmp, n_boot=n_boot, seed=seed + i, lean=lean)
        rows = rows.assign(replicate=i)
        frames.append(rows)
        if reps_path is not None:
            rows.to_csv(reps_path, mode="a", header=not reps_path.exists(), index=False)
            summarise(pd.concat(frames)).to_csv(folder / SUMMARY_FILE, index=False)
        seconds = time.perf_counter() - t0
        log.info("replicate %d of %d done in %.1f s", i + 1, replicates, seconds)
        if on_replicate is not None:
            on_replicate(i, seconds)
    reps = pd.concat(frames, ignore_index=True)
    return SimulationResult(replicates=reps, summary=summarise(reps))


def override_scenario(
    knob: str, value: float, folder: str | Path, base: str = "default"
) -> Path:
    """Write a scenario TOML that changes one dotted key of ``base``; return its path.

    Example:
        >>> p = override_scenario("corruption.noise", 2.0, tempfile.mkdtemp())
        >>> load_scenario(p).corruption.noise
        2.0
    """
    *section, key = knob.split(".")
    header = f"[{'.'.join(section)}]\n" if section else ""
    path = Path(folder) / f"{knob.replace('.', '_')}_{value}.toml"
    path.write_text(f'base = "{base}"\n{header}{key} = {float(value)!r}\n', encoding="utf-8")
    return path


def sweep(
    knob: str,
    values: Sequence[float],
    *,
    scale: float,
    replicates: int,
    seed: int = SIMULATION_SEED,
    n_boot: int = 100,
    base: str | Path | Sequence[str | Path] = "default",
    out: str | Path | None = None,
    on_replicate: ReplicateCallback | None = None,
    lean: bool = True,
) -> pd.DataFrame:
    """Simulation summary for each value of one scenario knob (``knob`` and ``value``
    columns added). The same seeds for every value, so the values differ by the knob only.
    With ``out``, each value's replicates go to ``out/<knob>=<value>/`` (resumable) and
    the combined table to ``out/sweep.csv``. ``base`` is one world (a one-item list too).

    Example:
        >>> sweep("corruption.noise", [1.0, 2.0], scale=0.02, replicates=2)  # doctest: +SKIP
    """
    if not isinstance(base, (str, Path)):
        if len(base) != 1:
            raise ConfigError(f"a sweep moves one knob of one world, got {len(base)} worlds")
        base = base[0]
    frames = []
    with locked(Path(out) if out is not None else None), \
            tempfile.TemporaryDirectory(prefix="linkage_sweep_") as tmp:
        for value in values:
            path = override_scenario(knob, value, tmp, str(base))
            sub = Path(out) / f"{knob}={value:g}" if out is not None else None
            result = simulate(path, scale=scale, replicates=replicates, seed=seed,
                              n_boot=n_boot, out=sub, on_replicate=on_replicate, lean=lean)
            frames.append(result.summary.assign(knob=knob, value=value))
        table = pd.concat(frames, ignore_index=True)
        if out is not None:
            table.to_csv(Path(out) / "sweep.csv", index=False)
    return table
