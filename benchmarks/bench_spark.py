"""The Spark backend against DuckDB on one study: time, linkage and estimates side by side.

Runs ``linkage run --scale S --seed N`` twice, ``--backend duckdb`` with this Python and
``--backend spark`` with the Spark environment's (``make test-spark`` builds
``.venv-spark``; pyspark stays out of the main one), each in a fresh process, then compares
what the guide's Spark section documents: the same candidate pairs and lambda, the share
of identical links (>= 98%), F1 within 0.01, and the primary's published estimates (the
largest and mean difference, and how many Spark estimates fall inside DuckDB's interval).

    python benchmarks/bench_spark.py                       # 10% of a national year, seed 1
    python benchmarks/bench_spark.py --scale 0.005 --spark-python .venv-spark/bin/python
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

KEYS = ["offense_type", "stage", "rate_kind", "method"]


def _run(python: str, backend: str, scale: float, seed: int, out: Path) -> float:
    cli = str(Path(python).with_name("linkage"))
    cmd = [cli, "-q", "run", "--scale", str(scale), "--seed", str(seed), "--backend", backend,
           "--out", str(out)]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{backend} run failed ({done.returncode}): {done.stderr[-400:]}")
    return time.perf_counter() - start


def _f1(out: Path) -> float:
    with duckdb.connect(str(out / "study.duckdb"), read_only=True) as con:
        return con.sql("select f1 from link_metrics where method = 'splink' "
                       "and dimension = 'all'").fetchall()[0][0]


def compare(ddb: Path, spark: Path) -> list[str]:
    """Lines comparing the two studies' linkage and primary estimates."""
    lines = []
    for name in ("n_candidate_pairs", "probability_two_random_records_match", "n_links"):
        a, b = (json.loads((o / "manifest.json").read_text())["linkage"][name]
                for o in (ddb, spark))
        lines.append(f"{name}: duckdb {a:.6g}, spark {b:.6g}")
    links = [duckdb.execute("select referral_id, case_id from read_parquet(?)",
                            [str(o / "links.parquet")]).df() for o in (ddb, spark)]
    both = len(links[0].merge(links[1]))
    lines.append(f"identical links: {both:,} = {both / max(len(links[0]), len(links[1])):.4f} "
                 f"of the larger set")
    lines.append(f"F1: duckdb {_f1(ddb):.4f}, spark {_f1(spark):.4f}")
    rates = [pd.read_csv(o / "conversion_rates.csv") for o in (ddb, spark)]
    a, b = (r[r.is_primary & ~r.suppressed] for r in rates)
    m = a.merge(b, on=KEYS, suffixes=("_d", "_s"))
    diff = (m.estimate_s - m.estimate_d).abs() * 100
    inside = ((m.estimate_s >= m.ci_low_d) & (m.estimate_s <= m.ci_high_d)).sum()
    lines.append(f"primary estimates ({len(m)} published cells): max |difference| "
                 f"{diff.max():.3f} points, mean {diff.mean():.3f}; Spark's estimate inside "
                 f"DuckDB's interval in {inside} of {len(m)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--spark-python", default=".venv-spark/bin/python")
    args = ap.parse_args(argv)
    if not Path(args.spark_python).exists():
        raise SystemExit(f"{args.spark_python}: no Spark environment (make test-spark builds it)")
    with tempfile.TemporaryDirectory(prefix="bench_spark_") as tmp:
        ddb, spark = Path(tmp) / "duckdb", Path(tmp) / "spark"
        seconds = {"duckdb": _run(sys.executable, "duckdb", args.scale, args.seed, ddb),
                   "spark": _run(args.spark_python, "spark", args.scale, args.seed, spark)}
        stages = {b: json.loads((o / "timings.json").read_text())["stage_seconds"]
                  for b, o in (("duckdb", ddb), ("spark", spark))}
        print(f"scale {args.scale:g}, seed {args.seed}")
        for backend, s in seconds.items():
            print(f"{backend}: {s:.1f} s end to end (link stage {stages[backend]['link']:.1f} s)")
        print("\n".join(compare(ddb, spark)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
