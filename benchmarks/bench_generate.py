"""Benchmark the synthetic generator: wall time, peak memory and calibration per scale.

Each scale runs in a fresh subprocess so its peak RSS is its own.

    python benchmarks/bench_generate.py                  # 1% and 100% (the issue's targets)
    python benchmarks/bench_generate.py --scales 0.01 0.1 --format csv

Targets (2 cores): 1% (about 205k tips) in < 15 s; 100% (20.5M tips, 820k referrals) in
< 5 min and < 8 GB peak.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

CHILD = """
import json, resource, sys, time
from linkage.generation.writer import generate
from linkage.generation.scenario import load_scenario
scale, fmt, out = float(sys.argv[1]), sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
summary = generate(load_scenario(scale=scale), out, fmt=fmt)
wall = time.perf_counter() - t0
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
targets = {k: v * scale for k, v in load_scenario(scale=scale).targets.items()}
print(json.dumps({"scale": scale, "wall_s": wall, "peak_gb": peak_kb / 1024**2,
                  "counts": summary.counts, "targets": targets}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[0.01, 1.0])
    parser.add_argument("--format", default="parquet", choices=["parquet", "csv"])
    args = parser.parse_args()
    print(f"{'scale':>6} {'tips':>11} {'referrals':>9} {'wall s':>7} {'peak GB':>7}  "
          "calibration (generated / target - 1)")
    for scale in args.scales:
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run([sys.executable, "-c", CHILD, str(scale), args.format,
                                   f"{tmp}/out"], capture_output=True, text=True, check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        c, t = r["counts"], r["targets"]
        cal = " ".join(f"{k} {c[k] / t[k] - 1:+.1%}" for k in t)
        print(f"{scale:>6} {c['tips']:>11,} {c['referrals']:>9,} {r['wall_s']:>7.1f} "
              f"{r['peak_gb']:>7.2f}  {cal}", flush=True)


if __name__ == "__main__":
    main()
