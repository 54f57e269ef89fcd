"""How a simulated clerical review's corrected rates compare with the truth.

For each world and replicate: generate, load, link (Splink, unsupervised), then draw
``--draws`` review samples of ``--size`` referrals (seeds 1, 2, ...), answer each from the
truth with a simulated reviewer (``--error-rate``), import it and compute the
review-corrected conversion rates and error rates. The figures are over every (replicate,
draw): bias, RMSE and 95%-interval coverage of the corrected rate and of the linked rate
(the links taken as true), against two truths: the referrals' true cases as recorded in
the case outcomes (what a perfect review measures; a census review reproduces it
exactly) and the generator's true stages (``truth_referrals``, the simulation's truth).

Usage:
    LINKAGE_THREADS=1 python benchmarks/bench_review.py --worlds uneven_audit,repeat_referrals \\
        --scale 0.003 --replicates 2 --draws 30 --size 500
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from linkage.db import connect
from linkage.ingest import load_input, load_truth
from linkage.linking import link
from linkage.review import (
    draw_sample,
    import_labels,
    review_conversion_rates,
    review_error_rates,
    simulate_review,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import generate_in_child  # noqa: E402

FOLLOW_UP = 365
STAGE_COLUMNS = {"investigation": "opened_at", "arrest": "arrested_at",
                 "charge": "charged_at", "conviction": "convicted_at"}


def _truths(con, end) -> dict[tuple[str, str], dict[str, float]]:
    """(offense or ALL, stage) -> {"labels": ..., "generator": ...}: the true rates."""
    out: dict[tuple[str, str], dict[str, float]] = {}
    for stage, col in STAGE_COLUMNS.items():
        rows = con.sql(f"""
            with r as (
                select referral_id, coalesce(offense_type, '(missing)') as offense_type,
                    cast(referred_at as date) as d
                from raw_referrals
                where cast(referred_at as date) + {FOLLOW_UP} <= $end
            ),
            y as (
                select r.offense_type,
                    coalesce(c.investigated and c.{col} <= r.d + {FOLLOW_UP}, false)::int
                        as by_labels,
                    coalesce(g.investigated and g.{col} <= r.d + {FOLLOW_UP}, false)::int
                        as by_generator
                from r
                left join truth_links as t on t.referral_id = r.referral_id
                left join raw_case_outcomes as c on c.case_id = t.case_id
                left join truth_referrals as g on g.referral_id = r.referral_id
            )
            select coalesce(offense_type, 'ALL'), avg(by_labels), avg(by_generator)
            from y group by grouping sets ((offense_type), ())
        """, params={"end": end}).fetchall()
        for offense, labels, generator in rows:
            out[(offense, stage)] = {"labels": labels, "generator": generator}
    return out


def _replicate(world: str, scale: float, seed: int, work: Path, args) -> list[dict]:
    data = work / f"{world}_{seed}"
    db = work / f"{world}_{seed}.duckdb"
    if not db.exists():
        if not generate_in_child(world, scale, seed, str(data)):
            raise SystemExit(1)
        tmp = db.with_suffix(".partial")
        tmp.unlink(missing_ok=True)
        with connect(tmp) as con:
            load_input(data, con)
            load_truth(data / "truth", con)
            link(con, seed=seed, charts=False, u_max_pairs=5e5, em_max_pairs=5e5)
        tmp.rename(db)
    rows = []
    with connect(db) as con:
        from linkage.review.estimates import end_date

        end = end_date(con)
        truth = _truths(con, end)
        for draw in range(1, args.draws + 1):
            sheet, labels = work / "sheet.csv", work / "labels.csv"
            draw_sample(con, args.size, sheet, seed=draw)
            simulate_review(con, sheet, labels, error_rate=args.error_rate, seed=draw)
            import_labels(con, labels)
            rates = review_conversion_rates(con, follow_up_days=FOLLOW_UP, end=end)
            errors = review_error_rates(con).set_index(["offense_type", "rate"])
            for r in rates.itertuples():
                t = truth.get((r.offense_type, r.stage))
                if t is None:
                    continue
                rows.append({"world": world, "seed": seed, "draw": draw,
                             "offense_type": r.offense_type, "stage": r.stage,
                             "estimate": r.estimate, "ci_low": r.ci_low,
                             "ci_high": r.ci_high, "linked": r.linked_estimate,
                             "truth_labels": t["labels"], "truth_generator": t["generator"],
                             "flr": errors.loc[("ALL", "false_link"), "estimate"],
                             "mlr": errors.loc[("ALL", "missed_link"), "estimate"]})
    return rows


def summarise(frame: pd.DataFrame, offense: str = "ALL") -> pd.DataFrame:
    """Bias, RMSE and coverage (pp) of the corrected and linked rates per world x stage."""
    f = frame[frame["offense_type"] == offense].copy()
    f["err"] = f["estimate"] - f["truth_labels"]
    f["err_gen"] = f["estimate"] - f["truth_generator"]
    f["lerr"] = f["linked"] - f["truth_labels"]
    f["cover"] = (f["ci_low"] <= f["truth_labels"]) & (f["truth_labels"] <= f["ci_high"])
    f["cover_gen"] = ((f["ci_low"] <= f["truth_generator"])
                      & (f["truth_generator"] <= f["ci_high"]))
    f["width"] = f["ci_high"] - f["ci_low"]
    g = f.groupby(["world", "stage"], sort=False)
    return pd.DataFrame({
        "n": g.size(),
        "truth": g["truth_labels"].mean() * 100,
        "linked bias": g["lerr"].mean() * 100,
        "corrected bias": g["err"].mean() * 100,
        "corrected RMSE": (g["err"].apply(lambda e: (e**2).mean() ** 0.5)) * 100,
        "coverage": g["cover"].mean(),
        "mean width": g["width"].mean() * 100,
        "bias vs generator": g["err_gen"].mean() * 100,
        "coverage vs generator": g["cover_gen"].mean(),
    }).round(3)


def markdown(frame: pd.DataFrame) -> str:
    """A frame as a Markdown table (index columns first)."""
    flat = frame.reset_index()
    head = [str(c) if not isinstance(c, tuple) else " ".join(map(str, c)) for c in flat]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in flat.itertuples(False)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", default="uneven_audit,repeat_referrals")
    parser.add_argument("--scale", type=float, default=0.003)
    parser.add_argument("--replicates", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2000)
    parser.add_argument("--draws", type=int, default=30)
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--work", type=Path, default=Path("bench_out/review"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for world in args.worlds.split(","):
        for i in range(args.replicates):
            t0 = time.perf_counter()
            rows += _replicate(world, args.scale, args.seed + i, args.work, args)
            print(f"{world} replicate {i + 1}: {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr)
    frame = pd.DataFrame(rows)
    frame.to_csv(args.work / f"review_rows_size{args.size}_e{args.error_rate}.csv",
                 index=False)
    print(f"scale {args.scale}, {args.replicates} replicate(s) per world, {args.draws} review "
          f"draws of {args.size} referrals each, reviewer error rate {args.error_rate}; "
          "figures in pp, over every (replicate, draw)")
    print(markdown(summarise(frame)))
    per = frame.groupby(["world", "seed"])[["flr", "mlr"]].agg(["mean", "std"]).round(4)
    print(markdown(per))


if __name__ == "__main__":
    main()
