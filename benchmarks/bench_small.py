"""A small study against a generic Splink linkage of the same input: the fixed costs.

Times, side by side and alternating, (a) our whole study, ``linkage run --input DIR``
(load, the data-quality gates, link, estimate, report, in a fresh process: imports
count) and (b) a generic Splink 5 linkage of the same files as a user would script it
(``_generic_study.py``: load, standardise, train, predict, write the links; fresh process
too). Prints each repeat, the medians, their ratio and the median of our stages
(``timings.json``). The input is a contract-shaped folder (``--input``) or a study
generated at ``--scale`` (0.015 of a national year is about 12,000 referrals).

    python benchmarks/bench_small.py                       # 12,228 referrals, 3 repeats
    python benchmarks/bench_small.py --repeats 5 --scale 0.015 --seed 5
    python benchmarks/bench_small.py --input DIR           # your extract (or FEBRL4's)
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import generate_in_child  # benchmarks/_common.py, beside the script

HERE = Path(__file__).parent
INPUT_TABLES = ("tips", "referrals", "case_outcomes")


def _input(args: argparse.Namespace, work: Path) -> Path:
    if args.input:
        return Path(args.input)
    data = work / "generated"
    if not generate_in_child(args.scenario, args.scale, args.seed, str(data)):
        raise SystemExit(1)
    folder = work / "input"  # the study's input without the generator's truth
    folder.mkdir()
    for table in INPUT_TABLES:
        shutil.copy(data / f"{table}.parquet", folder)
    return folder


def _timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{cmd[1]} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", help="contract-shaped folder (default: generate one)")
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--scale", type=float, default=0.015)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    linkage_cli = str(Path(sys.executable).with_name("linkage"))
    with tempfile.TemporaryDirectory(prefix="bench_small_") as tmp:
        work = Path(tmp)
        folder = _input(args, work)
        ours_cmd = [linkage_cli, "-q", "run", "--input", str(folder), "--out", str(work / "ours")]
        generic_cmd = [sys.executable, str(HERE / "_generic_study.py"), str(folder),
                       str(work / "generic")]
        ours, generic, stages = [], [], []
        for i in range(args.repeats):
            # alternate the order, so neither always runs on a warmer page cache
            first, second = (ours_cmd, generic_cmd) if i % 2 == 0 else (generic_cmd, ours_cmd)
            for cmd in (first, second):
                (ours if cmd is ours_cmd else generic).append(_timed(cmd))
            stages.append(json.loads((work / "ours" / "timings.json").read_text()))
            print(f"repeat {i + 1}: ours {ours[-1]:.1f} s, generic Splink {generic[-1]:.1f} s")
        n_ref = json.loads((work / "ours" / "manifest.json").read_text())["row_counts"][
            "raw_referrals"]
    med_ours, med_generic = statistics.median(ours), statistics.median(generic)
    print(f"\n{n_ref:,} referrals, {args.repeats} repeats (medians): ours {med_ours:.1f} s, "
          f"generic Splink {med_generic:.1f} s, ratio {med_ours / med_generic:.2f}")
    print("| stage | median s |\n|---|---|")
    for name in stages[0]["stage_seconds"]:
        values = [s["stage_seconds"][name] for s in stages]
        print(f"| {name} | {statistics.median(values):.2f} |")
    print(f"| total in the study | {statistics.median(s['total_seconds'] for s in stages):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
