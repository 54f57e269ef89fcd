"""Peers side by side on the same data: the ``recordlinkage`` toolkit's ECM pipeline, our
Splink linkage, and a bare DuckDB exact-agreement join as the floor - seconds, candidate
pairs, precision, recall and F1.

    pip install -e '.[bench]'                       # recordlinkage (never a runtime dependency)
    python benchmarks/bench_peers.py                # 10% of a national year, the scenario's seed
    python benchmarks/bench_peers.py --scale 0.02 --seed 3
    python benchmarks/bench_peers.py --data /tmp/g01    # reuse a generated folder
    python benchmarks/bench_peers.py --rl-sample 0.25   # recordlinkage on a quarter of the
                                                        # referrals, its time extrapolated

How the comparison is kept fair:

* **Same inputs.** All three read the staged tables ``stg_referrals`` / ``stg_case_outcomes``
  (names, e-mails, phones standardised by ``sql/staging/``), built once before any timing.
  recordlinkage gets them as pandas DataFrames (the conversion is timed apart, ``to pandas``).
* **Same candidate pairs.** recordlinkage blocks with its own ``Index`` - one ``Block`` per
  rule of ``model.CLEAR_MODEL.blocking_rules``, their union (phone prefix/suffix rules on derived
  columns) - and the floor with the same rules in SQL. The table prints each method's pair
  count so equality is visible. (Ours also counts every blocked pair.)
* **Same decision rule and truth.** Each method scores its pairs; a referral's link is its
  best-scoring case if that score reaches the method's threshold (ties: lowest case id);
  precision/recall/F1 are pairwise against the distinct pairs of ``truth_links``. Ours:
  ``scored_pairs.match_probability`` >= 0.5 (the ``links`` table adds a rule for declined
  referrals; its own F1 is printed too). recordlinkage: ECM match probability >= 0.5. Floor:
  exact agreements among first name, last name, DOB, e-mail, phone, username and ZIP >= 3,
  ties to the same agency, then the smallest referral-to-opening gap.
* **Same machine and process.** DuckDB runs on ``--threads`` threads (default 2);
  recordlinkage's ``Compare`` on ``--rl-jobs`` processes (default 1, its fastest here: the
  process pool's start-up costs more than it saves at these pair counts; its indexing and
  ECM are single-threaded pandas/numpy either way). Each method runs once, in turn.

Ours is timed end to end (``link``: staging, Splink training - lambda, u sampling, EM -
candidate count, prediction, the temporal step, links and the model charts) and also by
its prediction step alone, which is the like-for-like cost of the floor (a trained model
blocking and scoring the same pairs). recordlinkage is timed from pandas frames to links
(index, compare, ECM fit and probabilities, best link). With ``--rl-sample f`` it runs on a
random share f of the referrals (all cases) and its seconds are scaled by the ratio of
candidate pairs (its cost is linear in pairs); F1 is then measured on the sample's
referrals, so it is an estimate.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from _common import generate_in_child  # benchmarks/_common.py, beside the script

from linkage.linking import model as lm

FLOOR_FIELDS = ("first_name", "last_name", "dob", "email", "phone", "username", "zip")
FLOOR_MIN_AGREEMENTS = 3
RL_STRING_THRESHOLD = 0.88  # Jaro-Winkler, as in our name comparison
_SIDE = r"(?:(left|right)\()?{side}\.(\w+)(?:, (\d+)\))?"
_EQUALITY = re.compile(rf"^{_SIDE.format(side='l')} = {_SIDE.format(side='r')}$")


@dataclass
class Result:
    method: str
    seconds: float
    n_pairs: int
    tp: int
    fp: int
    fn: int
    note: str = ""

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def best_link_scores(con: duckdb.DuckDBPyConnection, scored: str, threshold: float,
                     referrals: str | None = None) -> tuple[int, int, int]:
    """TP, FP, FN of "each referral's best-scoring case if its score >= threshold" against
    ``truth_links``; ``scored`` is a relation with referral_id, case_id, score (and an
    optional tie-breaker ``tiebreak``, smaller first). ``referrals`` restricts the truth to
    those referral ids (a subsample)."""
    con.execute(f"create or replace temp view bench_scored as {scored}")
    truth = "select distinct referral_id, case_id from truth_links"
    if referrals is not None:
        truth += f" where referral_id in (select referral_id from {referrals})"
    row = con.execute(
        f"""
        with best as (
            select referral_id, case_id, score from (
                select *, row_number() over (partition by referral_id
                    order by score desc, tiebreak, case_id) as k
                from bench_scored) where k = 1 and score >= $t
        ),
        truth as ({truth})
        select
            (select count(*) from best join truth using (referral_id, case_id)),
            (select count(*) from best),
            (select count(*) from truth)
        """,
        {"t": threshold},
    ).fetchall()[0]
    tp, n_links, n_true = row
    return tp, n_links - tp, n_true - tp


def _blocked_pairs_sql() -> str:
    parts = [
        f"select l.unique_id as case_id, r.unique_id as referral_id "
        f"from stg_case_outcomes as l join stg_referrals as r on {rule}"
        for rule in lm.CLEAR_MODEL.blocking_rules
    ]
    return "\nunion\n".join(parts)  # union: each pair once, whichever rules found it


def run_floor(con: duckdb.DuckDBPyConnection) -> Result:
    """Blocking by our rules and a count of exact agreements, all in DuckDB SQL."""
    agree = " + ".join(f"coalesce(l.{f} = r.{f}, false)::int" for f in FLOOR_FIELDS)
    t0 = time.perf_counter()
    con.execute(f"create or replace temp table floor_pairs as {_blocked_pairs_sql()}")
    con.execute(
        f"""
        create or replace temp table floor_scored as
        select p.referral_id, p.case_id, {agree} as score,
            (l.agency_id is distinct from r.agency_id)::int * 100000
                + abs(coalesce(date_diff('day', r.referral_date, l.case_opened_date), 99999))
                as tiebreak
        from floor_pairs as p
        join stg_case_outcomes as l on l.unique_id = p.case_id
        join stg_referrals as r on r.unique_id = p.referral_id
        """
    )
    tp, fp, fn = best_link_scores(con, "select * from floor_scored", FLOOR_MIN_AGREEMENTS)
    seconds = time.perf_counter() - t0
    n_pairs = con.sql("select count(*) from floor_pairs").fetchall()[0][0]
    return Result("DuckDB exact-agreement floor", seconds, n_pairs, tp, fp, fn,
                  f">= {FLOOR_MIN_AGREEMENTS} of {len(FLOOR_FIELDS)} fields agree")


def run_ours(con: duckdb.DuckDBPyConnection) -> tuple[Result, Result, float | None]:
    """Our ``link`` end to end, and its prediction step alone."""
    from linkage.linking.metrics import evaluate
    from linkage.linking.run import link

    t0 = time.perf_counter()
    summary = link(con)
    seconds = time.perf_counter() - t0
    tp, fp, fn = best_link_scores(
        con, "select referral_id, case_id, match_probability as score, 0 as tiebreak "
             "from scored_pairs", 0.5)
    official = evaluate(con).splink.f1
    steps = ", ".join(f"{k} {v:.1f}" for k, v in summary.seconds.items())
    whole = Result("ours (Splink, end to end)", seconds, summary.n_candidate_pairs, tp, fp, fn,
                   f"steps: {steps}")
    predict = Result("ours: prediction step only", summary.seconds["predict"],
                     summary.n_candidate_pairs, tp, fp, fn,
                     "trained model: count + block + score + temporal step")
    return whole, predict, official


def _rl_blocks(rules: tuple[str, ...]) -> list[tuple[list[str], list[str]]]:
    """Our SQL blocking rules as recordlinkage ``Block`` keys (left = case, right =
    referral); ``left(x, 5)`` / ``right(x, 5)`` become derived columns ``x__left5`` ..."""
    blocks = []
    for rule in rules:
        left_on, right_on = [], []
        for part in rule.split(" and "):
            match = _EQUALITY.match(part.strip())
            if not match:
                raise ValueError(f"cannot express blocking rule part {part!r} as a Block")
            lf, lcol, ln, rf, rcol, rn = match.groups()
            left_on.append(f"{lcol}__{lf}{ln}" if lf else lcol)
            right_on.append(f"{rcol}__{rf}{rn}" if rf else rcol)
        blocks.append((left_on, right_on))
    return blocks


def _with_derived(frame: Any, keys: set[str]) -> Any:
    """Add the derived key columns (``phone__left5`` = first five characters, ...)."""
    for key in keys:
        if "__" in key:
            col, fn = key.split("__")
            side, n = re.fullmatch(r"(left|right)(\d+)", fn).groups()
            frame[key] = frame[col].str[: int(n)] if side == "left" else frame[col].str[-int(n):]
    return frame


def run_recordlinkage(con: duckdb.DuckDBPyConnection, jobs: int, sample: float,
                      seed: int) -> tuple[Result, float]:
    """recordlinkage 0.16: Index (our rules as Blocks) -> Compare -> ECMClassifier."""
    import recordlinkage

    t0 = time.perf_counter()
    refs_sql = "select * from stg_referrals"
    if sample < 1.0:
        # a seeded hash sample (DuckDB's SAMPLE clause takes no bound parameters)
        con.execute("create or replace temp table rl_sample as select unique_id as referral_id "
                    "from stg_referrals where (hash(unique_id) + $seed) % 10000 < $k",
                    {"k": int(round(sample * 10000)), "seed": seed})
        refs_sql += " where unique_id in (select referral_id from rl_sample)"
    cases = con.sql("select * from stg_case_outcomes").df().set_index("unique_id")
    refs = con.sql(refs_sql).df().set_index("unique_id")
    blocks = _rl_blocks(lm.CLEAR_MODEL.blocking_rules)
    cases = _with_derived(cases, {k for lo, _ in blocks for k in lo})
    refs = _with_derived(refs, {k for _, ro in blocks for k in ro})
    to_pandas = time.perf_counter() - t0

    t0 = time.perf_counter()
    indexer = recordlinkage.Index()
    for left_on, right_on in blocks:
        indexer.add(recordlinkage.index.Block(left_on=left_on, right_on=right_on))
    pairs = indexer.index(cases, refs)
    t_index = time.perf_counter() - t0
    compare = recordlinkage.Compare(n_jobs=jobs)
    for name in ("first_name", "last_name"):
        compare.string(name, name, method="jarowinkler", threshold=RL_STRING_THRESHOLD,
                       label=name)
    for name in ("dob", "email", "phone", "username", "zip", "agency_id"):
        compare.exact(name, name, label=name)
    features = compare.compute(pairs, cases, refs)
    t_compare = time.perf_counter() - t0 - t_index
    ecm = recordlinkage.ECMClassifier(binarize=0.5)
    ecm.fit(features)
    prob = ecm.prob(features)
    scored = prob.rename("score").reset_index()
    scored.columns = ["case_id", "referral_id", "score"]
    con.register("rl_scored", scored)
    seconds = time.perf_counter() - t0
    tp, fp, fn = best_link_scores(
        con, "select referral_id, case_id, score, 0 as tiebreak from rl_scored", 0.5,
        referrals="rl_sample" if sample < 1.0 else None)
    note = (f"ECM, 8 binary features; index {t_index:.1f}, compare {t_compare:.1f}, "
            f"ECM + best link {seconds - t_index - t_compare:.1f}")
    if sample < 1.0:
        note += f"; ran on {sample:.0%} of referrals ({len(pairs):,} pairs), time scaled"
    return Result("recordlinkage 0.16 (ECM)", seconds, len(pairs), tp, fp, fn, note), to_pandas


def format_table(results: list[Result], floor_s: float) -> str:
    head = (f"{'method':<30} {'cand. pairs':>12} {'seconds':>8} {'x floor':>8} "
            f"{'precision':>9} {'recall':>7} {'F1':>6}  note")
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(f"{r.method:<30} {r.n_pairs:>12,} {r.seconds:>8.1f} "
                     f"{r.seconds / floor_s:>8.1f} {r.precision:>9.3f} {r.recall:>7.3f} "
                     f"{r.f1:>6.3f}  {r.note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--data", help="existing generated folder (skips generation)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rl-sample", type=float, default=1.0,
                    help="share of referrals recordlinkage runs on (time scaled up)")
    ap.add_argument("--rl-jobs", type=int, default=1,
                    help="recordlinkage Compare n_jobs (default 1: its process pool costs "
                         "seconds to start, more than it saves below ~1M pairs)")
    ap.add_argument("--skip-rl", action="store_true", help="no recordlinkage run")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    for handler in logging.getLogger().handlers:  # Splink resets its logger's level
        handler.addFilter(lambda record: record.levelno >= logging.ERROR)

    from linkage.db import connect
    from linkage.ingest import load_input, load_truth
    from linkage.ingest.staging import build_staging

    work = Path(tempfile.mkdtemp(prefix="bench_peers_"))
    data = Path(args.data) if args.data else work / "data"
    if not args.data:
        print(f"generating scale {args.scale} ...", file=sys.stderr, flush=True)
        if not generate_in_child(args.scenario, args.scale, args.seed, str(data)):
            return 1
    con = connect(work / "study.duckdb", threads=args.threads)
    load_input(data, con)
    load_truth(data / "truth", con)
    build_staging(con)  # the shared, standardised inputs (not timed)
    n_ref, n_case = (con.sql(f"select count(*) from {t}").fetchall()[0][0]
                     for t in ("stg_referrals", "stg_case_outcomes"))

    print("floor ...", file=sys.stderr, flush=True)
    floor = run_floor(con)
    print(f"ours ... (floor: {floor.seconds:.1f} s, F1 {floor.f1:.3f})", file=sys.stderr,
          flush=True)
    ours, ours_predict, official_f1 = run_ours(con)
    results = [ours, ours_predict]
    to_pandas = None
    if not args.skip_rl:
        print(f"recordlinkage ... (ours: {ours.seconds:.1f} s, F1 {ours.f1:.3f}; {ours.note})",
              file=sys.stderr, flush=True)
        rl, to_pandas = run_recordlinkage(con, args.rl_jobs, args.rl_sample, seed=1)
        if args.rl_sample < 1.0:
            rl.seconds *= floor.n_pairs / max(rl.n_pairs, 1)
        results.append(rl)
    results.append(floor)
    print(f"{n_ref:,} referrals x {n_case:,} case records (scale {args.scale:g}); "
          f"{args.threads} threads; true pairs {floor.tp + floor.fn:,}")
    print(format_table(results, floor.seconds))
    print(f"(ours' links table, with its declined-referral rule: F1 {official_f1:.3f})")
    if to_pandas is not None:
        print(f"(recordlinkage input: DuckDB -> pandas in {to_pandas:.1f} s, not counted)")
    if not args.skip_rl:
        rl = results[2]
        ratio = rl.seconds / ours.seconds
        speed = f"{ratio:.1f}x faster" if ratio >= 1 else f"{1 / ratio:.1f}x slower"
        print(f"ours end to end vs recordlinkage: {speed}, F1 {ours.f1:.3f} vs {rl.f1:.3f}; "
              f"ours' prediction step takes {ours_predict.seconds / floor.seconds:.1f}x the "
              "floor's time")
    con.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
