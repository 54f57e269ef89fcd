"""Stress-matrix benchmarks: seconds per replicate per world, and lean vs full replicates.

Three commands over folders written by ``linkage simulate`` (the matrix runner):

    # run a matrix and time it (any linkage simulate arguments after --)
    python benchmarks/bench_matrix.py run --out bench_out/matrix -- \\
        --scenario default,drift --replicates 30 --scale 0.05 --jobs 2
    # seconds per replicate per world (from timings.csv) and the projected wall time of
    # 10 worlds x 100 replicates with 2 jobs, against the two-hour target
    python benchmarks/bench_matrix.py timings bench_out/matrix bench_out/full
    # the lean replicate measures the same: bias and coverage of lean and full replicates
    # of one world on the same seeds, with the Monte Carlo error of their difference
    python benchmarks/bench_matrix.py compare bench_out/matrix bench_out/full --world default
    # the matrix as Markdown tables (what docs/simulation.md shows)
    python benchmarks/bench_matrix.py tables bench_out/matrix

The projection assumes the two jobs keep both cores busy: wall = replicates x mean
seconds per replicate / jobs (each replicate runs on one core with one DuckDB thread).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

TARGET_HOURS = 2.0
TARGET_WORLDS, TARGET_REPLICATES, TARGET_JOBS = 10, 100, 2
MIN_REFERRALS = 500  # cells shown in the comparison: ALL and offense types this large


def _timings(folder: Path) -> pd.DataFrame:
    df = pd.read_csv(folder / "timings.csv").drop_duplicates(["world", "replicate"],
                                                             keep="last")
    return df.assign(run=folder.name)


def cmd_timings(folders: list[Path]) -> None:
    for folder in folders:
        df = _timings(folder)
        steps = [c for c in ("generate", "load", "link", "estimate", "truth") if c in df]
        table = df.groupby("world")[["seconds", *steps]].mean().round(1)
        table.insert(0, "replicates", df.groupby("world").size())
        table["n_referrals"] = df.groupby("world")["n_referrals"].mean().round(0)
        print(f"\n{folder}: seconds per replicate (mean), one DuckDB thread per job")
        print(table.to_string())
        mean = df["seconds"].mean()
        hours = TARGET_WORLDS * TARGET_REPLICATES * mean / TARGET_JOBS / 3600
        verdict = "meets" if hours < TARGET_HOURS else "misses"
        print(f"mean {mean:.1f} s per replicate -> {TARGET_WORLDS} worlds x "
              f"{TARGET_REPLICATES} replicates with {TARGET_JOBS} jobs: {hours:.2f} h "
              f"({verdict} the {TARGET_HOURS:g} h target)")
        wall = folder / "wall_seconds.txt"
        if wall.exists():
            secs = float(wall.read_text())
            print(f"measured wall time of the run: {secs:.0f} s for {len(df)} replicates "
                  f"= {secs / len(df):.1f} s per replicate of wall time "
                  f"(projection {TARGET_WORLDS * TARGET_REPLICATES * secs / len(df) / 3600:.2f} h)")


def _rows(folder: Path, world: str) -> pd.DataFrame:
    files = sorted((folder / "replicates" / world).glob("*.csv"))
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True)


def cmd_compare(lean_dir: Path, full_dir: Path, world: str) -> None:
    keys = ["method", "offense_type", "stage", "rate_kind"]
    lean, full = _rows(lean_dir, world), _rows(full_dir, world)
    seeds = sorted(set(lean.seed) & set(full.seed))
    both = lean[lean.seed.isin(seeds)].merge(
        full[full.seed.isin(seeds)], on=[*keys, "seed"], suffixes=("_lean", "_full"))
    big = both.groupby("offense_type")["n_referrals_lean"].mean()
    keep = set(big[big >= MIN_REFERRALS].index) | {"ALL"}
    both = both[both.offense_type.isin(keep) & both.truth_full.notna()]
    assert np.allclose(both.truth_lean, both.truth_full), "truths differ: not the same data"
    for side in ("lean", "full"):
        both[f"err_{side}"] = both[f"estimate_{side}"] - both[f"truth_{side}"]
        both[f"cov_{side}"] = ((both[f"ci_low_{side}"] <= both[f"truth_{side}"])
                               & (both[f"truth_{side}"] <= both[f"ci_high_{side}"]))
    both["d_err"] = both.err_lean - both.err_full
    both["d_cov"] = both.cov_lean.astype(float) - both.cov_full.astype(float)
    n = len(seeds)
    g = both.groupby(keys)
    cells = pd.DataFrame({
        "bias_lean_pp": g.err_lean.mean() * 100, "bias_full_pp": g.err_full.mean() * 100,
        "diff_pp": g.d_err.mean() * 100, "diff_se_pp": g.d_err.std() / np.sqrt(n) * 100,
        "bias_mc_se_pp": g.err_full.std() / np.sqrt(n) * 100,
        "cov_lean": g.cov_lean.mean(), "cov_full": g.cov_full.mean(),
        "cov_diff_se": g.d_cov.std() / np.sqrt(n),
    }).reset_index()
    cells["z"] = cells.diff_pp / cells.diff_se_pp.where(cells.diff_se_pp > 0)
    print(f"{world}: {n} replicates on the same seeds, lean vs full; cells with >= "
          f"{MIN_REFERRALS} referrals and ALL (bias in points; paired Monte Carlo SE)")
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(cells[cells.rate_kind == "cumulative"].round(3).to_string(index=False))
    by = cells.groupby(["rate_kind", "method"]).agg(
        cells=("z", "size"), max_abs_z=("z", lambda z: float(np.nanmax(np.abs(z)))),
        mean_abs_diff_pp=("diff_pp", lambda d: float(np.abs(d).mean())),
        mean_bias_mc_se_pp=("bias_mc_se_pp", "mean"),
        cov_lean=("cov_lean", "mean"), cov_full=("cov_full", "mean"))
    print("\nper method: |bias difference| against its own Monte Carlo SE (z), mean coverage")
    print(by.round(3).to_string())
    within = (cells.z.abs() <= 3) | cells.z.isna()
    print(f"\n{int(within.sum())} of {len(cells)} cells: |lean - full| bias within 3 paired "
          f"SE; coverage lean {cells.cov_lean.mean():.3f} vs full {cells.cov_full.mean():.3f}")


def _md(df: pd.DataFrame) -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def cmd_tables(folder: Path, min_referrals: int) -> None:
    from linkage.reporting.simulation import headline

    m = pd.read_csv(folder / "matrix.csv")
    worlds = list(dict.fromkeys(m.world))
    methods = ["calibrated", "threshold", "weighted", "deterministic"]
    for kind in ("cumulative", "conditional"):
        h = headline(m, min_referrals=min_referrals, rate_kind=kind).set_index(
            ["world", "method"])
        rows = []
        for w in worlds:
            row = {"world": w, "cells": int(h.loc[(w, "calibrated"), "cells"])}
            for meth in methods:
                r = h.loc[(w, meth)]
                row[f"{meth} max abs bias"] = f"{r.max_abs_bias_pp:.2f}"
                row[f"{meth} cov (min)"] = f"{r.mean_coverage:.2f} ({r.min_coverage:.2f})"
            rows.append(row)
        print(f"\n{kind}: ALL and offense types with >= {min_referrals} referrals; bias in "
              "points, mean coverage (lowest)\n")
        print(_md(pd.DataFrame(rows)))
    all_cells = m[(m.offense_type == "ALL") & (m.rate_kind == "cumulative")
                  & (m.method == "calibrated")]
    rows = []
    for w in worlds:
        sub = all_cells[all_cells.world == w].set_index("stage")
        row = {"world": w}
        for st in ("investigation", "arrest", "charge", "conviction"):
            r = sub.loc[st]
            row[st] = (f"{100 * r.truth_mean:.2f}% {100 * r.bias:+.2f} / {r.coverage:.2f}"
                       f" / {r.sd_over_se:.2f}")
        rows.append(row)
    print("\ncalibrated, ALL, cumulative: truth, bias (points) / coverage / sd over se\n")
    print(_md(pd.DataFrame(rows)))
    n = m.groupby("world").n_replicates.max()
    print(f"\nreplicates per world: {n.min()}-{n.max()}; "
          f"referrals per replicate (ALL): {int(m[m.offense_type == 'ALL'].n_referrals.min())}"
          f"-{int(m[m.offense_type == 'ALL'].n_referrals.max())}")


def cmd_run(out: Path, args: list[str]) -> None:
    t0 = time.perf_counter()
    cmd = [str(Path(sys.executable).parent / "linkage"), "-q", "simulate", "--out", str(out),
           *args]
    subprocess.run(cmd, check=True)
    secs = time.perf_counter() - t0
    (out / "wall_seconds.txt").write_text(f"{secs:.1f}\n")
    cmd_timings([out])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("rest", nargs=argparse.REMAINDER)
    t = sub.add_parser("timings")
    t.add_argument("folders", nargs="+", type=Path)
    c = sub.add_parser("compare")
    c.add_argument("lean", type=Path)
    c.add_argument("full", type=Path)
    c.add_argument("--world", default="default")
    tb = sub.add_parser("tables")
    tb.add_argument("folder", type=Path)
    tb.add_argument("--min-referrals", type=int, default=1000)
    a = ap.parse_args()
    if a.cmd == "run":
        cmd_run(a.out, [x for x in a.rest if x != "--"])
    elif a.cmd == "timings":
        cmd_timings(a.folders)
    elif a.cmd == "tables":
        cmd_tables(a.folder, a.min_referrals)
    else:
        cmd_compare(a.lean, a.full, a.world)


if __name__ == "__main__":
    main()
