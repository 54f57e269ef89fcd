"""How often the reviewed estimator's intervals hold, over many review draws, fast.

The review-size sweep (``matrix_cache.py estimate --review-size``) reruns the whole
estimate per review; this keeps, per kept linked replicate (``matrix_cache.py link``),
what the ``reviewed`` rows are computed from - the primary's prediction m, the truth of
every cell, and per review draw the design (strata, sizes, resolved referrals) and the
reviewed referrals' true stages - so the intervals can be scored over hundreds of
(replicate, draw) pairs in seconds, with the shipped variance (``ReviewDesign``) or
another.

    python benchmarks/review_calibration.py dump --linked bench_out/linked \\
        --out bench_out/cal --scenario uneven_audit,repeat_referrals --size 500 --draws 5
    python benchmarks/review_calibration.py score --out bench_out/cal

Draw 0 uses the replicate's seed, as the sweep does; draw d > 0 the seed + 100,000 d.
Coverage is over replicates and draws: the interval is for these referrals (the truth is
each replicate's realised rate), so every draw of a replicate is a draw of the design.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from matrix_cache import _folder, load_cached

import linkage.estimation.run as est_run
from linkage.estimation import rates as rt
from linkage.estimation.intervals import Draw
from linkage.estimation.reviewed import reviewed_table
from linkage.estimation.truth import truth_comparison
from linkage.generation import load_scenario
from linkage.ingest import build_staging
from linkage.review.estimates import ReviewDesign
from linkage.review.reviewer import simulated_review
from linkage.simulate.replicate import _estimate
from linkage.workers import run_tasks

log = logging.getLogger("review_calibration")
DESIGN_FIELDS = ("stratum", "n_pop", "resolved", "r_h", "band")


def _dump_task(task: tuple) -> float:
    world, scale, seed, i, linked, out, size, draws = task
    t0 = time.perf_counter()
    sc = load_scenario(world, scale=scale, seed=seed + i)
    con = load_cached(_folder(Path(linked), sc.name, i))
    got: dict = {}
    real_inputs, real_table = est_run.reviewed_inputs, est_run.reviewed_table

    def spy_inputs(con_, inputs, censoring):
        got["inputs"], got["censoring"] = inputs, censoring
        return real_inputs(con_, inputs, censoring)

    def spy_table(inputs, prediction, review, dimensions):
        got["m"] = np.asarray(prediction.total(), dtype=float)
        return real_table(inputs, prediction, review, dimensions)

    # spies on the estimator's own calls: they see the inputs, censoring and prediction it
    # used, so later draws need no re-estimate
    est_run.reviewed_inputs, est_run.reviewed_table = spy_inputs, spy_table
    try:
        build_staging(con)
        simulated_review(con, size, seed=seed + i)
        summary = _estimate(con, sc, 1, seed + i, True, primary="reviewed")
        truth_comparison(con, summary.follow_up_days, publish=False)
        truth = con.table("truth_cells").df()
        inputs = got["inputs"]
        codes, labels = rt.strata_codes(inputs.referrals, "offense_type")
        arrays = {"m": got["m"], "eligible": inputs.eligible, "codes": codes}
        for d in range(draws):
            if d:
                simulated_review(con, size, seed=seed + i + 100_000 * d)
            design, true = real_inputs(con, inputs, got["censoring"])
            for f in DESIGN_FIELDS:
                arrays[f"{f}_{d}"] = getattr(design, f)
            arrays[f"true_{d}"] = true
    finally:
        est_run.reviewed_inputs, est_run.reviewed_table = real_inputs, real_table
        con.close()
    folder = Path(out) / world
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / f"{i:05d}.npz", **arrays)
    truth.to_csv(folder / f"{i:05d}_truth.csv", index=False)
    (folder / f"{i:05d}_labels.json").write_text(json.dumps(list(labels)))
    return time.perf_counter() - t0


def cmd_dump(args) -> None:
    linked, out = Path(args.linked), Path(args.out)
    params = json.loads((linked / "linked_run.json").read_text())
    tasks = []
    for w in args.scenario.split(","):
        reps = sorted(int(p.name) for p in (linked / w).iterdir() if p.is_dir()
                      and p.suffix == "")[: args.replicates]
        tasks += [(w, params["scale"], params["seed"], i, str(linked), str(out), args.size,
                   args.draws) for i in reps if not (out / w / f"{i:05d}.npz").exists()]
    t0 = time.time()
    for done, (_, secs) in enumerate(run_tasks(_dump_task, tasks, jobs=args.jobs), 1):
        if done % 20 == 0:
            log.warning("dumped %d of %d (%.0f s, last %.1f s)", done, len(tasks),
                        time.time() - t0, secs)


def cells(arrays, labels: list[str], d: int, design_cls=ReviewDesign) -> pd.DataFrame:
    """The cumulative ``reviewed`` rows (stratum, stage, estimate, ci_low, ci_high) per
    offense type and ALL for draw ``d``, from the product's ``reviewed_table``, with the
    variance of ``design_cls`` (``ReviewDesign``: the shipped one)."""
    design = design_cls(*(arrays[f"{f}_{d}"] for f in DESIGN_FIELDS))
    offense = np.asarray(labels, dtype=object)[arrays["codes"]]
    inputs = SimpleNamespace(eligible=arrays["eligible"],  # what reviewed_table reads
                             referrals=pd.DataFrame({"offense_type": offense}))
    rows = reviewed_table(inputs, Draw(arrays["m"]), (design, arrays[f"true_{d}"]),
                          ("offense_type",))
    return rows[rows["rate_kind"] == "cumulative"]


def score(out: Path, design_cls=ReviewDesign, min_referrals: int = 1000) -> pd.DataFrame:
    """Bias, coverage and width per world, offense type and stage over every dumped
    (replicate, draw)."""
    rows = []
    for path in sorted(out.glob("*/*.npz")):
        arrays = np.load(path)
        labels = json.loads(path.with_name(path.stem + "_labels.json").read_text())
        truth = pd.read_csv(path.with_name(path.stem + "_truth.csv"))
        truth = truth[truth["rate_kind"] == "cumulative"].set_index(
            ["offense_type", "stage"])["truth"]
        n_dom = {name: int((arrays["eligible"] & (arrays["codes"] == g)).sum())
                 for g, name in enumerate(labels)} | {"ALL": int(arrays["eligible"].sum())}
        draws = sum(1 for k in arrays.files if k.startswith("true_"))
        for d in range(draws):
            got = cells(arrays, labels, d, design_cls)
            for name, stage, p, lo, hi in got[["stratum", "stage", "estimate", "ci_low",
                                              "ci_high"]].itertuples(index=False):
                t = truth.get((name, stage), np.nan)
                rows.append((path.parent.name, int(path.stem), d, name, stage,
                             n_dom[name], p - t, lo <= t <= hi, hi - lo, t < lo, t > hi))
    df = pd.DataFrame(rows, columns=["world", "replicate", "draw", "offense_type", "stage",
                                     "n", "error", "covered", "width", "above", "below"])
    df = df[df["n"] >= min_referrals]
    return (df.groupby(["world", "offense_type", "stage"], sort=True)
            .agg(pairs=("error", "size"), bias_pp=("error", "mean"),
                 sd_pp=("error", "std"), coverage=("covered", "mean"),
                 width_pp=("width", "mean"), above=("above", "mean"),
                 below=("below", "mean"))
            .assign(bias_pp=lambda t: (100 * t.bias_pp).round(3),
                    sd_pp=lambda t: (100 * t.sd_pp).round(3),
                    width_pp=lambda t: (100 * t.width_pp).round(3))
            .reset_index())


def cmd_score(args) -> None:
    table = score(Path(args.out), min_referrals=args.min_referrals)
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(table.to_string(index=False))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    dp = sub.add_parser("dump", help="keep what the reviewed rows are computed from")
    dp.add_argument("--linked", required=True)
    dp.add_argument("--out", required=True)
    dp.add_argument("--scenario", default="uneven_audit,repeat_referrals")
    dp.add_argument("--replicates", type=int, default=100)
    dp.add_argument("--size", type=int, default=500)
    dp.add_argument("--draws", type=int, default=5)
    dp.add_argument("--jobs", type=int, default=2)
    sc = sub.add_parser("score", help="bias, coverage and width of the reviewed intervals")
    sc.add_argument("--out", required=True)
    sc.add_argument("--min-referrals", type=int, default=1000)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    {"dump": cmd_dump, "score": cmd_score}[args.cmd](args)


if __name__ == "__main__":
    main()
