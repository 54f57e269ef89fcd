"""Benchmark linkage: wall time, peak RSS, blocking recall and P/R/F1 against truth.

Generates a synthetic study (in a child process, so its memory is not counted), loads it
into a fresh DuckDB file, then times ``link`` and ``evaluate``.

Usage:
    .venv/bin/python benchmarks/bench_link.py --scale 0.1
    .venv/bin/python benchmarks/bench_link.py --scale 0.1 --scenario hard_noise --keep out/
    .venv/bin/python benchmarks/bench_link.py --data /tmp/g01   # reuse a generated folder
    .venv/bin/python benchmarks/bench_link.py --study out/study.duckdb  # reuse a loaded
        # study file (raw_* and truth_links): peak RSS is then linking + evaluation only
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path

from _common import generate_in_child  # benchmarks/_common.py, beside the script


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--scenario", default="default", help="shipped name or TOML path")
    ap.add_argument("--data", help="existing generated folder (skips generation)")
    ap.add_argument("--study", help="existing loaded study DuckDB file (skips generate+load)")
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--keep", help="folder to keep the study DuckDB file and charts in")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)

    from linkage.db import connect
    from linkage.ingest import load_input, load_truth
    from linkage.linking.metrics import evaluate
    from linkage.linking.run import link

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_link_"))
    work.mkdir(parents=True, exist_ok=True)
    if args.study:
        db = Path(args.study)
        con = connect(db, threads=args.threads)
    else:
        data = Path(args.data) if args.data else work / "data"
        if not args.data:
            t0 = time.perf_counter()
            if not generate_in_child(args.scenario, args.scale, args.seed, str(data)):
                return 1
            print(f"generate: {time.perf_counter() - t0:.1f} s (scale {args.scale})")
        db = work / "study.duckdb"
        db.unlink(missing_ok=True)
        con = connect(db, threads=args.threads)
        t0 = time.perf_counter()
        load_input(data, con)
        load_truth(data / "truth", con)
        print(f"load: {time.perf_counter() - t0:.1f} s, peak RSS so far {_peak_rss_mb():.0f} MB")

    t0 = time.perf_counter()
    summary = link(con, threshold=args.threshold, model_path=work / "model.json")
    t_link = time.perf_counter() - t0
    rss_link = _peak_rss_mb()
    t0 = time.perf_counter()
    ev = evaluate(con)
    t_eval = time.perf_counter() - t0
    summary.write_charts(work / "charts")
    con.close()

    print(
        f"referrals {summary.n_referrals:,}  cases {summary.n_cases:,}  "
        f"candidate pairs {summary.n_candidate_pairs:,}  scored {summary.n_scored_pairs:,}  "
        f"links {summary.n_links:,}  lambda {summary.probability_two_random_records_match:.3g}"
    )
    print(f"link: {t_link:.1f} s  steps {summary.seconds}")
    print(f"evaluate: {t_eval:.1f} s")
    print(f"peak RSS: {rss_link:.0f} MB (after link), {_peak_rss_mb():.0f} MB (end)")
    print(f"study file: {db.stat().st_size / 1e6:.1f} MB")
    print(f"true pairs {ev.n_true_pairs:,}  blocking recall {ev.blocking_recall:.4f}")
    print(f"threshold {summary.threshold}")
    rows = [("splink", ev.splink), *sorted(ev.baselines.items())]
    print(f"{'method':<16}{'links':>8}{'tp':>8}{'fp':>7}{'fn':>7}{'P':>8}{'R':>8}{'F1':>8}")
    for name, m in rows:
        p, r, f = (f"{v:.4f}" if v is not None else "n/a" for v in (m.precision, m.recall, m.f1))
        print(f"{name:<16}{m.n_links:>8}{m.tp:>8}{m.fp:>7}{m.fn:>7}{p:>8}{r:>8}{f:>8}")
    print(
        f"false-link rate: expected {ev.expected_false_link_rate:.4f} "
        f"observed {ev.observed_false_link_rate:.4f}; missed-link rate: expected "
        f"{ev.expected_missed_link_rate:.4f} observed {ev.observed_missed_link_rate:.4f}"
    )
    print(f"work folder: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
