"""Methodology simulation: bias, RMSE and 95% CI coverage of every estimator, per cell.

Each replicate generates a fresh synthetic study (its own seed), loads it, links it with
Splink, runs :func:`linkage.estimation.run.estimate` without suppression and scores every
method's cumulative and conditional rates against the truth. **The truth is the realised
share of this replicate's referrals** that reached the stage under the same censoring rule
as the estimators (``truth_cells``, from ``truth_referrals``' true dates):
the finite-population quantity a study reports, which is also what the intervals target.

``sweep`` reruns the simulation over values of one scenario knob (a dotted key such as
``corruption.noise`` or ``completeness.small.email``) to show how bias and coverage move.

Example:
    >>> result = simulate(scale=0.02, replicates=2, seed=1)  # doctest: +SKIP
    >>> result.summary.query("method == 'calibrated'").head()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from linkage.db import connect
from linkage.defaults import DEFAULT_SEED, SIMULATION_SEED
from linkage.estimation import estimate
from linkage.estimation.truth import truth_comparison
from linkage.generation import Scenario, generate, load_scenario
from linkage.ingest import load_input, load_truth
from linkage.linking import link

log = logging.getLogger(__name__)

CELL_KEYS = ("method", "offense_type", "stage", "rate_kind")
ReplicateCallback = Callable[[int, float], None]


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
    scenario: Scenario, workdir: str | Path, *, n_boot: int = 100, seed: int = DEFAULT_SEED
) -> pd.DataFrame:
    """One full replicate (generate, load, link, estimate, truth) as scored rows.

    Example:
        >>> sc = load_scenario("default", scale=0.01, seed=3)
        >>> run_replicate(sc, "/tmp/rep3").shape  # doctest: +SKIP
    """
    work = Path(workdir)
    generate(scenario, work / "data", fmt="parquet")
    con = connect(work / "study.duckdb")
    try:
        load_input(work / "data", con)
        load_truth(work / "data" / "truth", con)
        link(con, seed=seed)
        summary = estimate(con, seed=seed, n_boot=n_boot, suppress_below=0, min_denominator=0,
                           comparisons=False)
        truth_comparison(con, summary.follow_up_days, publish=False)
        truth = con.table("truth_cells").df()
        est = con.sql(
            "select method, offense_type, stage, rate_kind, n_referrals, estimate, ci_low,"
            " ci_high from conversion_rates"
        ).df()
    finally:
        con.close()
    return est.merge(truth, on=["offense_type", "stage", "rate_kind"], how="left")


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

    Example:
        >>> simulate(scale=0.002, replicates=2, out="sim_out").summary  # doctest: +SKIP
    """
    folder = Path(out) if out is not None else None
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
            rows = run_replicate(sc, tmp, n_boot=n_boot, seed=seed + i).assign(replicate=i)
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


def summarise(replicates: pd.DataFrame) -> pd.DataFrame:
    """Bias, RMSE and coverage per method x cell from replicate rows, with what explains
    a coverage miss: the spread of the error over replicates (``sd``) against the mean
    standard error the intervals imply (``mean_se``, width / 3.92): ``sd_over_se`` above 1
    means intervals too narrow, and a ``bias`` of a few ``sd`` shifts them off the truth;
    ``miss_low`` / ``miss_high`` are the shares of replicates whose interval lies wholly
    below / above the truth.

    Example:
        >>> rows = pd.DataFrame({"method": ["m"] * 2, "offense_type": ["ALL"] * 2,
        ...     "stage": ["arrest"] * 2, "rate_kind": ["cumulative"] * 2,
        ...     "n_referrals": [100, 100], "estimate": [0.1, 0.2], "ci_low": [0.0, 0.15],
        ...     "ci_high": [0.2, 0.25], "truth": [0.1, 0.1]})
        >>> summarise(rows)[["bias", "coverage"]].round(2).values.tolist()
        [[0.05, 0.5]]
    """
    df = replicates.dropna(subset=["truth", "estimate"]).copy()
    df["error"] = df["estimate"] - df["truth"]
    df["sq_error"] = df["error"] ** 2
    df["covered"] = (df["ci_low"] <= df["truth"]) & (df["truth"] <= df["ci_high"])
    df["below"] = df["ci_high"] < df["truth"]
    df["above"] = df["ci_low"] > df["truth"]
    df["se"] = (df["ci_high"] - df["ci_low"]) / (2 * 1.959964)
    out = df.groupby(list(CELL_KEYS), as_index=False).agg(
        replicates=("error", "size"),
        n_referrals=("n_referrals", "mean"),
        truth=("truth", "mean"),
        estimate=("estimate", "mean"),
        bias=("error", "mean"),
        rmse=("sq_error", lambda s: float(np.sqrt(s.mean()))),
        coverage=("covered", "mean"),
        sd=("error", "std"),
        mean_se=("se", "mean"),
        miss_low=("below", "mean"),
        miss_high=("above", "mean"),
    )
    out["sd_over_se"] = out["sd"] / out["mean_se"].where(out["mean_se"] > 0)
    return out.sort_values(["rate_kind", "offense_type", "stage", "method"])


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
    base: str | Path = "default",
    out: str | Path | None = None,
    on_replicate: ReplicateCallback | None = None,
) -> pd.DataFrame:
    """Simulation summary for each value of one scenario knob (``knob`` and ``value``
    columns added). The same seeds for every value, so the values differ by the knob only.
    With ``out``, each value's replicates go to ``out/<knob>=<value>/`` (resumable) and
    the combined table to ``out/sweep.csv``.

    Example:
        >>> sweep("corruption.noise", [1.0, 2.0], scale=0.02, replicates=2)  # doctest: +SKIP
    """
    frames = []
    with tempfile.TemporaryDirectory(prefix="linkage_sweep_") as tmp:
        for value in values:
            path = override_scenario(knob, value, tmp, str(base))
            sub = Path(out) / f"{knob}={value:g}" if out is not None else None
            result = simulate(path, scale=scale, replicates=replicates, seed=seed,
                              n_boot=n_boot, out=sub, on_replicate=on_replicate)
            frames.append(result.summary.assign(knob=knob, value=value))
    table = pd.concat(frames, ignore_index=True)
    if out is not None:
        table.to_csv(Path(out) / "sweep.csv", index=False)
    return table


def format_summary(summary: pd.DataFrame, min_referrals: int = 1000,
                   methods: Sequence[str] | None = None) -> str:
    """The acceptance view of a summary as text: cumulative rates of the offense types
    with at least ``min_referrals`` referrals on average, and ALL; bias and RMSE in
    percentage points, coverage, per method side by side.

    Example:
        >>> print(format_summary(result.summary))  # doctest: +SKIP
    """
    cells = summary[summary.rate_kind == "cumulative"]
    if methods is not None:
        cells = cells[cells.method.isin(methods)]
    cells = cells[(cells.offense_type == "ALL") | (cells.n_referrals >= min_referrals)]
    if cells.empty:
        return "(no cell with enough referrals)"
    table = cells.assign(
        bias_pp=(cells.bias * 100).round(3), rmse_pp=(cells.rmse * 100).round(3),
        truth_pct=(cells.truth * 100).round(3), coverage=cells.coverage.round(3),
    ).pivot_table(index=["offense_type", "stage", "replicates", "truth_pct"],
                  columns="method", values=["bias_pp", "rmse_pp", "coverage"])
    with pd.option_context("display.width", 250, "display.max_columns", 50):
        return table.to_string()
