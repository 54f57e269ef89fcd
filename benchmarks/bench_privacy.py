"""Benchmark pseudonymised linkage against clear linkage: F1 and primary estimates side by side.

Generates a synthetic study (or reuses ``--data``), then runs load -> link -> evaluate ->
estimate twice: on the clear data and on ``linkage pseudonymize``'s output of the same
data (key from ``LINKAGE_BENCH_KEY``, or a fixed benchmark key when unset: the figures do
not depend on the key beyond Bloom-filter collisions). Estimates are unsuppressed (every
cell compared); intervals are the primary (``calibrated``) method's 95% CIs.

Usage:
    .venv/bin/python benchmarks/bench_privacy.py --scale 0.1 --seed 1
    .venv/bin/python benchmarks/bench_privacy.py --data /tmp/g01 --keep /tmp/bench_privacy
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from _common import generate_in_child  # benchmarks/_common.py, beside the script

from linkage.estimation.disclosure import MIN_NUMERATOR

KEY_ENV = "LINKAGE_BENCH_KEY"
FALLBACK_KEY = "benchmark key: not secret, only for reproducible figures"


def _study(data: Path, db: Path, seed: int, n_boot: int) -> dict:
    """Load, link, evaluate and estimate one input; return F1 and the primary rates."""
    from linkage.db import connect
    from linkage.estimation import estimate
    from linkage.ingest import load_input, load_truth
    from linkage.linking.metrics import evaluate
    from linkage.linking.run import link

    db.unlink(missing_ok=True)
    con = connect(db)
    load_input(data, con)
    load_truth(data / "truth", con)
    t0 = time.perf_counter()
    summary = link(con)
    t_link = time.perf_counter() - t0
    ev = evaluate(con)
    estimate(con, seed=seed, n_boot=n_boot, suppress_below=0, min_denominator=0)
    rows = con.sql(
        "select offense_type, stage, estimate, ci_low, ci_high, numerator from conversion_rates"
        " where is_primary and rate_kind = 'cumulative'"
    ).fetchall()
    con.close()
    return {
        "link_s": t_link, "links": summary.n_links, "blocking_recall": ev.blocking_recall,
        "precision": ev.splink.precision, "recall": ev.splink.recall, "f1": ev.splink.f1,
        "rates": {(o, s): (e, lo, hi, num) for o, s, e, lo, hi, num in rows},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--data", help="existing generated folder (skips generation)")
    ap.add_argument("--keep", help="folder for the pseudonymised data and study files")
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR)
    from linkage.ingest.pseudonyms import pseudonymize

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_privacy_"))
    work.mkdir(parents=True, exist_ok=True)
    data = Path(args.data) if args.data else work / "data"
    if not args.data:
        if not generate_in_child(args.scenario, args.scale, args.seed, str(data)):
            return 1
    os.environ.setdefault(KEY_ENV, FALLBACK_KEY)
    t0 = time.perf_counter()
    ps = pseudonymize(data, work / "pseudo", key_env=KEY_ENV)
    t_pseudo = time.perf_counter() - t0
    clear = _study(data, work / "clear.duckdb", args.seed, args.n_boot)
    private = _study(work / "pseudo", work / "pseudo.duckdb", args.seed, args.n_boot)

    print(f"pseudonymize: {t_pseudo:.1f} s {ps.seconds} rows {ps.row_counts}")
    print(f"{'':<18}{'clear':>10}{'pseudonymised':>15}{'difference':>12}")
    for name in ("link_s", "links", "blocking_recall", "precision", "recall", "f1"):
        a, b = clear[name], private[name]
        fmt = (lambda v: f"{v:,}") if isinstance(a, int) else (lambda v: f"{v:.4f}")
        print(f"{name:<18}{fmt(a):>10}{fmt(b):>15}{fmt(b - a):>12}")
    print("\nprimary (calibrated) cumulative estimates, 95% CI; within = each estimate inside"
          f" the other's CI; small = expected count < {MIN_NUMERATOR} (suppressed when published)")
    print(f"{'offense type':<30}{'stage':<14}{'clear':>30}{'pseudonymised':>30}  within")
    tally = {True: [0, 0], False: [0, 0]}  # publishable?: [cells, within]
    for key in sorted(clear["rates"], key=lambda k: (k[0] != "ALL", k)):
        (e1, lo1, hi1, n1), (e2, lo2, hi2, _) = clear["rates"][key], private["rates"][key]
        if e1 is None or e2 is None:
            continue
        inside = lo1 <= e2 <= hi1 and lo2 <= e1 <= hi2
        publishable = round(n1 or 0) >= MIN_NUMERATOR
        tally[publishable][0] += 1
        tally[publishable][1] += inside
        cell = "{:.5f} [{:.5f}, {:.5f}]"
        print(f"{key[0]:<30}{key[1]:<14}{cell.format(e1, lo1, hi1):>30}"
              f"{cell.format(e2, lo2, hi2):>30}  {'yes' if inside else 'NO'}"
              f"{'' if publishable else ' (small)'}")
    for publishable, label in ((True, "publishable"), (False, "small")):
        n, k = tally[publishable]
        print(f"{label} cells: {k} of {n} with each estimate inside the other's CI")
    print(f"work folder: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
