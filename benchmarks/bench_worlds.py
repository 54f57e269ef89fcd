"""Linkage on every shipped world: ours against the generic Splink baseline, with the ceiling.

For each world and seed: generate the world at ``--scale`` (in a child process), load it,
run ``linkage.link`` and ``linkage.evaluate``, then the generic Splink 5 model of the
external benchmarks (``external/_peers.generic_splink``: every identifier the input has,
no dates, no agency) on the same staged tables. Printed per world (mean over the seeds):
F1 of ours and of the generic model, their difference, our blocking recall (truth) beside
the blocking recall estimated without truth from the audit links (cases that recorded the
tip number), the share of true pairs with no identifier known on both sides (no method can
link those), and link seconds.

    python benchmarks/bench_worlds.py --scale 0.02 --seeds 1,2
    python benchmarks/bench_worlds.py --scale 0.05 --seeds 1 --worlds default,handles_only
    python benchmarks/bench_worlds.py --scale 0.02 --seeds 1,2 --csv /tmp/worlds.csv

Both methods keep each referral's best case at p >= 0.5 and are scored pairwise against
the truth (``external/_contract.score``).
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "external"))

import _contract as ct  # noqa: E402  (benchmarks/external, beside this script)
import _peers  # noqa: E402
from _common import generate_in_child  # noqa: E402

import linkage  # noqa: E402
from linkage.generation.scenario import available_scenarios  # noqa: E402


@dataclass(frozen=True)
class WorldRun:
    world: str
    seed: int
    n_true: int
    ours_f1: float
    ours_precision: float
    ours_recall: float
    generic_f1: float
    blocking_recall: float
    audit_blocking_recall: float | None
    no_comparable: float
    link_seconds: float
    n_candidate_pairs: int
    untrained: str
    temporal: str


def _run_one(world: str, seed: int, scale: float, threads: int) -> WorldRun:
    with tempfile.TemporaryDirectory(prefix=f"worlds_{world}_") as tmp:
        data = Path(tmp) / "data"
        if not generate_in_child(world, scale, seed, str(data)):
            raise RuntimeError(f"generation of {world} failed")
        con = linkage.connect(threads=threads)
        try:
            linkage.load_input(data, con)
            linkage.load_truth(data / "truth", con)
            start = time.perf_counter()
            summary = linkage.link(con, seed=seed, charts=False)
            seconds = time.perf_counter() - start
            ev = linkage.evaluate(con)
            ours = ct.score(con, con.sql("select referral_id, case_id from links").to_arrow_table())
            peer = _peers.generic_splink(con, seed=seed, threads=threads)
            generic = ct.score(con, ct.best_links(con, peer.pairs))
            facts = summary.facts()
            return WorldRun(
                world=world, seed=seed, n_true=ev.n_true_pairs, ours_f1=ours.f1,
                ours_precision=ours.precision, ours_recall=ours.recall, generic_f1=generic.f1,
                blocking_recall=ev.blocking_recall or 0.0,
                audit_blocking_recall=facts.audit_blocking_recall,
                no_comparable=ct.no_comparable_share(con), link_seconds=seconds,
                n_candidate_pairs=summary.n_candidate_pairs,
                untrained=",".join(facts.untrained_comparisons),
                temporal="on" if facts.temporal_step == "on" else "off",
            )
        finally:
            con.close()


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.4f}"


def _report(runs: list[WorldRun]) -> str:
    lines = [
        "| world | seeds | true pairs | ours F1 | generic F1 | ours - generic | P | R |"
        " blocking recall | audit estimate | no comparable id | link s | untrained | temporal |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    worlds = list(dict.fromkeys(r.world for r in runs))
    for w in worlds:
        rs = [r for r in runs if r.world == w]

        def mean(attr: str, rs: list[WorldRun] = rs) -> float | None:
            vals = [getattr(r, attr) for r in rs if getattr(r, attr) is not None]
            return statistics.fmean(vals) if vals else None

        diff = mean("ours_f1") - mean("generic_f1")
        untrained = sorted({u for r in rs for u in r.untrained.split(",") if u})
        lines.append(
            f"| {w} | {len(rs)} | {round(mean('n_true')):,} | {_fmt(mean('ours_f1'))} |"
            f" {_fmt(mean('generic_f1'))} | {diff:+.4f} | {_fmt(mean('ours_precision'))} |"
            f" {_fmt(mean('ours_recall'))} | {_fmt(mean('blocking_recall'))} |"
            f" {_fmt(mean('audit_blocking_recall'))} | {_fmt(mean('no_comparable'))} |"
            f" {mean('link_seconds'):.1f} | {', '.join(untrained) or '-'} |"
            f" {'/'.join(sorted({r.temporal for r in rs}))} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.02)
    ap.add_argument("--seeds", default="1,2", help="comma-separated generator seeds")
    ap.add_argument("--worlds", default=None, help="comma-separated (default: every shipped)")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("LINKAGE_THREADS", "1")))
    ap.add_argument("--csv", type=Path, help="also write one row per world and seed here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    worlds = args.worlds.split(",") if args.worlds else available_scenarios()
    seeds = [int(s) for s in args.seeds.split(",")]
    runs: list[WorldRun] = []
    start = time.perf_counter()
    for world in worlds:
        for seed in seeds:
            run = _run_one(world, seed, args.scale, args.threads)
            runs.append(run)
            print(f"{world} seed {seed}: ours {run.ours_f1:.4f} generic {run.generic_f1:.4f} "
                  f"blocking {run.blocking_recall:.4f} ({run.link_seconds:.1f} s)", flush=True)
            if args.csv:
                with args.csv.open("w", newline="") as fh:
                    writer = csv.DictWriter(fh, fieldnames=list(asdict(runs[0])))
                    writer.writeheader()
                    writer.writerows(asdict(r) for r in runs)
    print(f"\nscale {args.scale}, seeds {args.seeds}, {args.threads} thread(s)\n")
    print(_report(runs))
    print(f"\n(total {time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
