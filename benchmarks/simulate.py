"""Methodology simulation benchmark: bias, RMSE and 95% CI coverage per method and cell.

The issue's acceptance run (default scenario, 10% scale, 100 replicates) and the
sensitivity sweep, as one command each; the work is ``linkage.simulate`` (the same as
``linkage simulate``). Replicate rows are appended to ``<out>/replicates.csv`` after every
replicate, so an interrupted run resumes, and two runs on disjoint seeds can share the
machine's cores and be summarised together (``--combine``).

    python benchmarks/simulate.py --scale 0.1 --replicates 100 --out bench_out/sim
    LINKAGE_THREADS=1 python benchmarks/simulate.py --replicates 50 --seed 1000 --out a &
    LINKAGE_THREADS=1 python benchmarks/simulate.py --replicates 50 --seed 1050 --out b &
    python benchmarks/simulate.py --combine a b
    python benchmarks/simulate.py --scale 0.05 --replicates 20 \\
        --sweep completeness.small.email --values 0.3,0.55,0.8 --out bench_out/sweep

The truth each replicate is scored against is the realised share of its referrals that
reached the stage within the follow-up window (see linkage.simulate).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import pandas as pd

from linkage.simulate import format_summary, simulate, summarise, sweep
from linkage.simulate.replicate import REPLICATES_FILE

MIN_CELL_REFERRALS = 1000  # the acceptance cells: offense x stage with >= this many


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--replicates", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--n-boot", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path("bench_out/simulate"))
    ap.add_argument("--min-referrals", type=int, default=MIN_CELL_REFERRALS)
    ap.add_argument("--sweep", help="dotted scenario key to sweep, e.g. corruption.noise")
    ap.add_argument("--values", default="0.5,1.0,2.0")
    ap.add_argument("--combine", nargs="+", type=Path,
                    help="summarise the replicate rows of these output folders together")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.combine:
        frames = [pd.read_csv(folder / REPLICATES_FILE).assign(run=str(folder))
                  for folder in args.combine]
        reps = pd.concat(frames, ignore_index=True)
        reps["replicate"] = reps.groupby(["run", "replicate"]).ngroup()
        print(f"{reps.replicate.nunique()} replicates from {len(frames)} runs")
        print(format_summary(summarise(reps), args.min_referrals))
        return
    t0 = time.perf_counter()

    def done(i: int, seconds: float) -> None:
        print(f"replicate {i + 1}/{args.replicates} in {seconds:.0f} s", flush=True)

    if not args.sweep:
        result = simulate(args.scenario, scale=args.scale, replicates=args.replicates,
                          seed=args.seed, n_boot=args.n_boot, out=args.out, on_replicate=done)
        print(format_summary(result.summary, args.min_referrals))
    else:
        values = [float(v) for v in args.values.split(",")]
        table = sweep(args.sweep, values, scale=args.scale, replicates=args.replicates,
                      seed=args.seed, n_boot=args.n_boot, base=args.scenario, out=args.out,
                      on_replicate=done)
        cells = table[(table.rate_kind == "cumulative") & (table.offense_type == "ALL")]
        print(cells.assign(bias_pp=(cells.bias * 100).round(3),
                           coverage=cells.coverage.round(2))
              .pivot_table(index=["stage", "value"], columns="method",
                           values=["bias_pp", "coverage"]).to_string())
    print(f"total {time.perf_counter() - t0:.0f} s; rows in {args.out}")


if __name__ == "__main__":
    main()
