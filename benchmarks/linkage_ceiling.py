"""How good could any model on our comparison levels be? An in-sample oracle bound.

Reads a linked synthetic study (``scored_pairs``, ``truth_links``), groups the candidate
pairs by everything the model sees of a pair - the comparison level of each Splink
comparison (its partial match weight, rounded), the referral-to-opening gap bucket, agency
agreement and whether the case is an investigation - and gives every pair the TRUE share
of links in its group. Linking on that (same rule as ``links``: best case per referral,
one referral per declined-referral record) is the best any scoring of these features can
do on these data, and it is optimistic (fitted in sample, to the truth). The gap between
it and the model is what better estimation could still win; the gap between it and 1 is
what the identifiers cannot tell apart (relatives, namesakes, nameless referrals).

    python benchmarks/bench_link.py --scale 0.1 --seed 1 --keep /tmp/l10
    python benchmarks/linkage_ceiling.py --study /tmp/l10/study.duckdb
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import duckdb

from linkage.linking import model as lm

PATTERN = [f"round({c}, 1)" for c in lm.MW_COLUMNS] + ["gap_bucket", "same_agency",
                                                        "case_investigated"]


def pairwise(con: duckdb.DuckDBPyConnection, table: str) -> tuple[float, float, float]:
    n_true = con.sql("select count(*) from truth_links").fetchall()[0][0]
    n, tp = con.sql(
        f"select count(*), count(t.referral_id) from {table} as l "
        "left join truth_links as t using (referral_id, case_id)").fetchall()[0]
    p, r = tp / max(n, 1), tp / max(n_true, 1)
    return p, r, 2 * p * r / max(p + r, 1e-12)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", required=True, help="linked study DuckDB file with truth")
    ap.add_argument("--threshold", type=float, default=lm.DEFAULT_THRESHOLD)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:  # work on a copy: the study stays as it was
        db = Path(tmp) / "study.duckdb"
        shutil.copy(args.study, db)
        con = duckdb.connect(str(db))
        con.execute(f"""
            create temp table oracle_pairs as
            select s.referral_id, s.case_id, s.match_probability,
                coalesce(c.investigated, true) as case_investigated,
                avg((t.referral_id is not null)::int) over (partition by {", ".join(PATTERN)})
                    as oracle_probability,
                count(*) over (partition by {", ".join(PATTERN)}) as pattern_pairs
            from scored_pairs as s
            inner join raw_case_outcomes as c using (case_id)
            left join truth_links as t using (referral_id, case_id)
        """)
        n_patterns = con.sql(
            f"select count(distinct ({', '.join(PATTERN[:-3])}, gap_bucket, same_agency)) "
            "from scored_pairs").fetchall()[0][0]
        n_pairs = con.sql("select count(*) from oracle_pairs").fetchall()[0][0]
        print(f"candidate pairs scored: {n_pairs:,}  feature patterns: {n_patterns:,}")
        print(f"{'scoring':<22}{'P':>8}{'R':>8}{'F1':>8}")
        for name, col in (("model", "match_probability"), ("oracle", "oracle_probability")):
            con.execute(f"""
                create or replace temp table chosen as
                with best as (
                    select *, row_number() over (partition by referral_id
                        order by {col} desc, case_id) as rank_in_referral
                    from oracle_pairs where {col} >= $t
                ),
                per_case as (
                    select *, row_number() over (partition by case_id
                        order by {col} desc, referral_id) as rank_in_case
                    from best where rank_in_referral = 1
                )
                select referral_id, case_id from per_case
                where case_investigated or rank_in_case = 1
            """, {"t": args.threshold})
            p, r, f = pairwise(con, "chosen")
            print(f"{name + f' at {args.threshold:g}':<22}{p:8.4f}{r:8.4f}{f:8.4f}")
        recall_cap = con.sql(
            "select avg((s.referral_id is not null)::int) from truth_links as t "
            "left join scored_pairs as s using (referral_id, case_id)").fetchall()[0][0]
        print(f"true pairs among the scored candidates (recall cap): {recall_cap:.4f}")
        con.close()


if __name__ == "__main__":
    main()
