"""The stress matrix: every world x replicate of the methodology simulation, in parallel
processes, resumable, written as ``matrix.csv`` and ``matrix.html``.

Example:
    >>> run_matrix(["default", "drift"], scale=0.002, replicates=2,
    ...            out="matrix_out")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from linkage.defaults import SIMULATION_SEED
from linkage.errors import ConfigError
from linkage.generation import load_scenario
from linkage.outputs import atomic_write_text
from linkage.reporting.matrix_html import write_matrix
from linkage.simulate.replicate import ReviewSweep, locked, run_replicate
from linkage.workers import run_tasks

__all__ = ["MatrixCallback", "MatrixResult", "run_matrix"]

log = logging.getLogger(__name__)

RUN_FILE = "matrix_run.json"
TIMINGS_FILE = "timings.csv"
REPLICATE_ROWS_DIR = "replicates"
MatrixCallback = Callable[[str, int, float, int, int], None]
"""Called with (world, replicate, seconds, replicates done, replicates to do)."""


@dataclass(frozen=True)
class MatrixResult:
    """What ``run_matrix`` wrote: ``matrix`` (as in ``matrix.csv``), the replicates run by
    this call and in all, and the wall seconds of each replicate this call ran."""

    out: Path
    matrix: pd.DataFrame
    n_run: int
    n_replicates: int
    seconds: tuple[float, ...]


def _replicate_task(task: tuple) -> tuple[pd.DataFrame, dict[str, float]]:
    """One matrix replicate (module level, so worker processes can run it)."""
    source, name, scale, seed, n_boot, lean, review, i = task
    sc = load_scenario(source, scale=scale, seed=seed + i)
    t0, cpu0 = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory(prefix="linkage_matrix_") as tmp:
        rows = run_replicate(sc, tmp, n_boot=n_boot, seed=seed + i, lean=lean, review=review)
    # CPU seconds too: on a shared machine they show the cost when wall time is queueing
    seconds = {"seconds": round(time.perf_counter() - t0, 3),
               "cpu_seconds": round(time.process_time() - cpu0, 3), **rows.attrs["seconds"]}
    rows = rows.assign(world=name, replicate=i, seed=seed + i)
    return rows, seconds


def _worlds(worlds: Sequence[str | Path], scale: float) -> dict[str, tuple[str, str]]:
    """name -> (source, description) of each world, checked (the name labels the rows)."""
    out: dict[str, tuple[str, str]] = {}
    for source in worlds:
        sc = load_scenario(source, scale=scale)
        if sc.name in out:
            raise ConfigError(f"world {source}: name {sc.name!r} is used twice in the matrix")
        out[sc.name] = (str(source), sc.description)
    return out


def _check_run(folder: Path, params: dict) -> None:
    """Refuse to resume a matrix folder made with other settings (mixed replicates)."""
    path = folder / RUN_FILE
    if path.exists():
        before = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(k for k in params if before.get(k) != params[k])
        if changed:
            was = ", ".join(f"{k} {before.get(k)!r}" for k in changed)
            raise ConfigError(f"matrix folder {folder} was started with other settings "
                              f"({was}): use a new --out or the same settings")
    atomic_write_text(path, json.dumps(params, indent=2))


def _rows_path(folder: Path, name: str, i: int) -> Path:
    return folder / REPLICATE_ROWS_DIR / name / f"{i:05d}.csv"


def run_matrix(
    worlds: Sequence[str | Path],
    *,
    scale: float,
    replicates: int,
    out: str | Path,
    seed: int = SIMULATION_SEED,
    n_boot: int = 100,
    jobs: int = 1,
    lean: bool = True,
    on_replicate: MatrixCallback | None = None,
    review: ReviewSweep | None = None,
) -> MatrixResult:
    """Run ``replicates`` replicates in every world and write the stress matrix.

    Replicate i of every world has seed ``seed + i`` (the same seeds in every world, so
    worlds differ by their mechanisms, not their luck). Each finished replicate's rows go
    to ``out/replicates/<world>/<i>.csv`` (written whole, then renamed) and its step
    timings to ``out/timings.csv``; a rerun with the same settings runs only the missing
    replicates (more replicates or worlds may be added). Then ``out/matrix.csv`` (see
    ``reporting.simulation.MATRIX_COLUMNS``) and ``out/matrix.html`` are written, also
    every ten replicates on the way, so a long run can be watched.

    Args:
        worlds: shipped scenario names or TOML paths.
        scale, replicates, seed, n_boot, lean: as for ``simulate``.
        out: the matrix folder.
        jobs: worker processes (each with one DuckDB thread); 1 runs here.
        on_replicate: progress callback (see ``MatrixCallback``).
        review: simulated clerical reviews scored in every replicate (method
            ``reviewed_<size>``; see ``score_replicate``).

    Example:
        >>> run_matrix(["default", "drift"], scale=0.002, replicates=2,
        ...            out="matrix_out")  # doctest: +SKIP
    """
    if replicates < 1 or jobs < 1:
        raise ConfigError("replicates and jobs must be at least 1")
    folder = Path(out)
    named = _worlds(worlds, scale)
    with locked(folder):
        return _run_matrix(folder, named, scale, replicates, seed, n_boot, jobs, lean,
                           on_replicate, review)


def _run_matrix(folder: Path, named: dict[str, tuple[str, str]], scale: float,
                replicates: int, seed: int, n_boot: int, jobs: int, lean: bool,
                on_replicate: MatrixCallback | None,
                review: ReviewSweep | None = None) -> MatrixResult:
    folder.mkdir(parents=True, exist_ok=True)
    params = {"scale": scale, "seed": seed, "n_boot": n_boot, "lean": lean}
    if review is not None:  # recorded only when used: older folders resume unchanged
        params |= {"review_sizes": list(review.sizes), "reviewer_error_rate": review.error_rate}
    _check_run(folder, params)
    tasks = [(src, name, scale, seed, n_boot, lean, review, i) for i in range(replicates)
             for name, (src, _) in named.items() if not _rows_path(folder, name, i).exists()]
    header = not (folder / TIMINGS_FILE).exists()
    seconds: list[float] = []
    for done, (task, (rows, timing)) in enumerate(run_tasks(_replicate_task, tasks, jobs=jobs),
                                                   start=1):
        name, i = task[1], task[-1]
        path = _rows_path(folder, name, i)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows.to_csv(path.with_suffix(".tmp"), index=False)
        path.with_suffix(".tmp").replace(path)
        line = pd.DataFrame([{"world": name, "replicate": i, **timing,
                              "n_referrals": int(rows.loc[rows.offense_type == "ALL",
                                                          "n_referrals"].max())}])
        line.to_csv(folder / TIMINGS_FILE, mode="a", header=header, index=False)
        header = False
        seconds.append(timing["seconds"])
        log.info("%s replicate %d done in %.1f s (%d of %d)", name, i, timing["seconds"],
                 done, len(tasks))
        if on_replicate is not None:
            on_replicate(name, i, timing["seconds"], done, len(tasks))
        if done % 10 == 0 and done < len(tasks):
            _write_matrix(folder, named, replicates, params)
    matrix, n_total = _write_matrix(folder, named, replicates, params)
    return MatrixResult(folder, matrix, len(tasks), n_total, tuple(seconds))


def _write_matrix(folder: Path, named: dict[str, tuple[str, str]], replicates: int,
                  params: dict) -> tuple[pd.DataFrame, int]:
    files = [_rows_path(folder, name, i) for name in named for i in range(replicates)]
    return write_matrix([f for f in files if f.exists()], folder, worlds=list(named),
                        params={"worlds": len(named), "replicates per world": replicates,
                                **params},
                        descriptions={n: d for n, (_, d) in named.items()})
