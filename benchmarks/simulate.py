"""Methodology simulation benchmark: bias, RMSE and 95% CI coverage per method and cell.

Each replicate is a fresh synthetic study run through the whole pipeline (generate, load,
link, estimate); rows are appended to ``<out>/replicates.csv`` after every replicate, so an
interrupted run keeps what it measured. The summary is rewritten after each replicate.

    python benchmarks/simulate.py --scale 0.1 --replicates 100
    python benchmarks/simulate.py --scale 0.02 --replicates 2 --sweep corruption.noise \
        --sweep-values 0.5,1,2 --out bench_out/sweep

The truth each replicate is scored against is the realised share of its referrals that
reached the stage within the follow-up window (see linkage.simulate).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from linkage.scenario import load_scenario
from linkage.simulate import override_scenario, run_replicate, summarise

MIN_CELL_REFERRALS = 1000  # the acceptance cells: offense x stage with >= this many


def run(scenario: str, scale: float, replicates: int, seed: int, n_boot: int,
        out: Path, label: dict[str, object] | None = None) -> pd.DataFrame:
    out.mkdir(parents=True, exist_ok=True)
    reps_path = out / "replicates.csv"
    done = pd.read_csv(reps_path) if reps_path.exists() else None
    start = 0 if done is None else int(done["replicate"].max()) + 1
    for i in range(start, replicates):
        t0 = time.perf_counter()
        work = Path(tempfile.mkdtemp(prefix="linkage_bench_"))
        try:
            rows = run_replicate(load_scenario(scenario, scale=scale, seed=seed + i), work,
                                 n_boot=n_boot, seed=seed + i)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        rows = rows.assign(replicate=i, **(label or {}))
        rows.to_csv(reps_path, mode="a", header=not reps_path.exists(), index=False)
        summary = summarise(pd.read_csv(reps_path))
        summary.to_csv(out / "summary.csv", index=False)
        print(f"replicate {i + 1}/{replicates} in {time.perf_counter() - t0:.0f} s", flush=True)
    return summarise(pd.read_csv(reps_path))


def report(summary: pd.DataFrame, min_referrals: int) -> str:
    cells = summary[(summary.rate_kind == "cumulative") & (summary.offense_type != "ALL")]
    big = cells[cells.n_referrals >= min_referrals]
    big = pd.concat([big, summary[(summary.rate_kind == "cumulative")
                                  & (summary.offense_type == "ALL")]])
    table = big.assign(
        bias_pp=(big.bias * 100).round(3), rmse_pp=(big.rmse * 100).round(3),
        truth_pct=(big.truth * 100).round(3), coverage=big.coverage.round(3),
    ).pivot_table(index=["offense_type", "stage", "replicates", "truth_pct"],
                  columns="method", values=["bias_pp", "rmse_pp", "coverage"])
    return table.to_string()


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
    ap.add_argument("--sweep-values", default="0.5,1.0,2.0")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not args.sweep:
        summary = run(args.scenario, args.scale, args.replicates, args.seed, args.n_boot,
                      args.out)
        print(report(summary, args.min_referrals))
        return
    frames = []
    for value in [float(v) for v in args.sweep_values.split(",")]:
        sub = args.out / f"{args.sweep}={value}"
        sub.mkdir(parents=True, exist_ok=True)
        path = override_scenario(args.sweep, value, sub, args.scenario)
        summary = run(str(path), args.scale, args.replicates, args.seed, args.n_boot, sub,
                      {"knob": args.sweep, "value": value})
        frames.append(summary.assign(value=value))
    table = pd.concat(frames)
    table.to_csv(args.out / "sweep.csv", index=False)
    cells = table[(table.rate_kind == "cumulative") & (table.offense_type == "ALL")]
    print(cells.assign(bias_pp=(cells.bias * 100).round(3), coverage=cells.coverage.round(2))
          .pivot_table(index=["stage", "value"], columns="method",
                       values=["bias_pp", "coverage"]).to_string())


if __name__ == "__main__":
    main()
