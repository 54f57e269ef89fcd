"""The stress matrix in two halves: linked replicates kept on disk, estimators rerun on them.

A matrix replicate is generate -> load -> link -> estimate -> score; the first three are
three quarters of its time and do not depend on the estimators. ``link`` runs them once per
world x replicate (the same seeds, scale and lean settings as ``linkage simulate``) and
keeps what estimation reads (``CACHED_TABLES``, identifier values masked to presence);
``estimate`` reruns the current estimators on every kept replicate and writes the matrix
folder exactly as ``linkage simulate`` does (``replicates/<world>/<i>.csv``, ``matrix.csv``,
``matrix.html``). Both are resumable: a replicate already kept (or scored) is skipped.

    python benchmarks/matrix_cache.py link --out bench_out/linked --scale 0.05 \\
        --replicates 100 --jobs 2 --scenario default,drift,...
    python benchmarks/matrix_cache.py estimate --linked bench_out/linked \\
        --out bench_out/matrix --jobs 2
    python benchmarks/matrix_cache.py check --linked bench_out/linked --world default --replicate 0

``summary --out bench_out/matrix`` prints the primary's bias, coverage of its interval and
of its sensitivity bounds, and the time-to-event bias per horizon; ``compare --before
other_matrix --out bench_out/matrix`` pairs the replicates both hold. ``check`` reruns one
replicate whole (``linkage.simulate.run_replicate``) and compares its
rows with the cached route's: they must be identical.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from bench_matrix import _md

from linkage.db import connect, quote_ident, quote_literal, table_exists
from linkage.defaults import SIMULATION_SEED
from linkage.generation import load_scenario
from linkage.generation.scenario import available_scenarios
from linkage.ingest import build_staging
from linkage.reporting.matrix_html import write_matrix
from linkage.reporting.trust import study_features
from linkage.simulate import ReviewSweep, linked_replicate, run_replicate, score_replicate
from linkage.workers import run_tasks

log = logging.getLogger("matrix_cache")

ALL_WORLDS = ",".join(available_scenarios())
"""Every shipped world (``linkage scenarios``)."""
CACHED_TABLES = ("raw_tips", "raw_referrals", "raw_case_outcomes", "scored_pairs", "links",
                 "truth_referrals", "truth_links")
MASKED = {
    "raw_tips": ("suspect_email", "suspect_username", "suspect_phone", "suspect_ip",
                 "suspect_first_name", "suspect_last_name"),
    "raw_referrals": ("first_name", "last_name", "email", "phone", "username", "ip",
                      "city", "zip"),
    "raw_case_outcomes": ("first_name", "last_name", "email", "phone", "username", "city",
                          "zip"),
}
"""Identifier columns kept as presence only ('x' where a value was, else null)."""
RUN_FILE = "linked_run.json"


def _folder(root: Path, world: str, i: int) -> Path:
    return root / world / f"{i:05d}"


def _save(con, folder: Path) -> None:
    tmp = folder.with_suffix(".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    for table in CACHED_TABLES:
        if not table_exists(con, table):
            continue
        cols = [r[0] for r in con.sql(f"describe {quote_ident(table)}").fetchall()]
        masked = set(MASKED.get(table, ()))
        select = ", ".join(
            f"case when nullif(trim(cast({quote_ident(c)} as varchar)), '') is not null "
            f"then 'x' end as {quote_ident(c)}" if c in masked else quote_ident(c)
            for c in cols)
        path = quote_literal(str(tmp / f"{table}.parquet"))
        con.execute(f"copy (select {select} from {quote_ident(table)}) to {path} "
                    "(format parquet)")
    tmp.replace(folder)


def load_cached(folder: Path):
    """An in-memory study connection holding a kept replicate's tables."""
    con = connect(":memory:")
    for path in sorted(folder.glob("*.parquet")):
        con.execute(f"create table {quote_ident(path.stem)} as select * from "
                    f"read_parquet({quote_literal(str(path))})")
    return con


def _link_task(task: tuple) -> dict:
    world, scale, seed, i, root = task
    sc = load_scenario(world, scale=scale, seed=seed + i)
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="linkage_cache_") as tmp:
        con = linked_replicate(sc, tmp, seed=seed + i, lean=True, seconds=seconds)
        try:
            _save(con, _folder(Path(root), sc.name, i))
        finally:
            con.close()
    return seconds


def _estimate_task(task: tuple) -> tuple[pd.DataFrame, dict]:
    world, scale, seed, i, linked, n_boot, *rest = task
    review = rest[0] if rest else None
    sc = load_scenario(world, scale=scale, seed=seed + i)
    seconds: dict[str, float] = {}
    con = load_cached(_folder(Path(linked), sc.name, i))
    try:
        if review is not None:  # the review sheet reads the staged records
            build_staging(con)
        rows = score_replicate(con, sc, n_boot=n_boot, seed=seed + i, lean=True,
                               seconds=seconds, review=review)
        features = study_features(con)  # what the report compares a study with
    finally:
        con.close()
    out = rows.assign(world=sc.name, replicate=i, seed=seed + i)
    out.attrs["horizons"] = rows.attrs.get("horizons")
    out.attrs["features"] = features
    return out, seconds


def cmd_link(args) -> None:
    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    params = {"scale": args.scale, "seed": args.seed, "lean": True}
    run_file = root / RUN_FILE
    if run_file.exists() and json.loads(run_file.read_text()) != params:
        raise SystemExit(f"{root} was started with other settings: {run_file.read_text()}")
    run_file.write_text(json.dumps(params, indent=2))
    worlds = [w for w in args.scenario.split(",") if w]
    tasks = [(w, args.scale, args.seed, i, str(root)) for i in range(args.replicates)
             for w in worlds if not _folder(root, w, i).exists()]
    t0 = time.time()
    for done, (task, secs) in enumerate(run_tasks(_link_task, tasks, jobs=args.jobs), 1):
        with (root / "timings.csv").open("a") as fh:
            fh.write(f"{task[0]},{task[3]},{sum(secs.values()):.1f}\n")
        log.warning("linked %s %d (%d of %d, %.0f s)", task[0], task[3], done, len(tasks),
                    time.time() - t0)


def cmd_estimate(args) -> None:
    linked, out = Path(args.linked), Path(args.out)
    params = json.loads((linked / RUN_FILE).read_text())
    worlds = sorted(p.name for p in linked.iterdir() if p.is_dir())
    if args.scenario:
        worlds = [w for w in args.scenario.split(",") if w]
    kept = {w: sorted(int(p.name) for p in (linked / w).iterdir()
                      if p.is_dir() and p.suffix == "") for w in worlds}
    if args.replicates is not None:
        kept = {w: [i for i in v if i < args.replicates] for w, v in kept.items()}
    sizes = tuple(int(n) for n in args.review_size.split(",") if int(n) > 0)
    review = ReviewSweep(sizes, args.reviewer_error_rate) if sizes else None
    tasks = [(w, params["scale"], params["seed"], i, str(linked), args.n_boot, review)
             for w, reps in kept.items() for i in reps
             if not (out / "replicates" / w / f"{i:05d}.csv").exists()]
    t0 = time.time()
    for done, (task, (rows, secs)) in enumerate(run_tasks(_estimate_task, tasks,
                                                          jobs=args.jobs), 1):
        path = out / "replicates" / task[0] / f"{task[3]:05d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        horizons = rows.attrs.get("horizons")
        if horizons is not None:  # time-to-event rows beside the matrix (not in it)
            h_path = out / "horizons" / task[0] / f"{task[3]:05d}.csv"
            h_path.parent.mkdir(parents=True, exist_ok=True)
            horizons.assign(world=task[0], replicate=task[3]).to_csv(h_path, index=False)
        f_path = out / "features" / task[0] / f"{task[3]:05d}.json"
        f_path.parent.mkdir(parents=True, exist_ok=True)
        f_path.write_text(json.dumps(rows.attrs["features"]))
        rows.to_csv(path.with_suffix(".tmp"), index=False)
        path.with_suffix(".tmp").replace(path)
        with (out / "timings.csv").open("a") as fh:
            fh.write(f"{task[0]},{task[3]},{secs.get('estimate', 0):.2f}\n")
        if done % 50 == 0:
            log.warning("estimated %d of %d (%.0f s)", done, len(tasks), time.time() - t0)
    files = sorted((out / "replicates").glob("*/*.csv"))
    n_rep = max((len(v) for v in kept.values()), default=0)
    write_matrix(files, out, worlds=worlds,
                 params={"worlds": len(worlds), "replicates per world": n_rep,
                         "n_boot": args.n_boot, **params},
                 descriptions={w: load_scenario(w).description for w in worlds})
    log.warning("matrix of %d replicate files written to %s", len(files), out)


def cmd_check(args) -> None:
    linked = Path(args.linked)
    params = json.loads((linked / RUN_FILE).read_text())
    cached, _ = _estimate_task((args.world, params["scale"], params["seed"], args.replicate,
                                str(linked), args.n_boot))
    sc = load_scenario(args.world, scale=params["scale"], seed=params["seed"] + args.replicate)
    with tempfile.TemporaryDirectory() as tmp:
        whole = run_replicate(sc, tmp, n_boot=args.n_boot, seed=params["seed"] + args.replicate)
    cols = list(whole.columns)
    same = cached[cols].reset_index(drop=True).equals(whole.reset_index(drop=True))
    print(f"{args.world} replicate {args.replicate}: cached route "
          f"{'identical to' if same else 'DIFFERS from'} the whole replicate "
          f"({len(whole)} rows)")
    if not same:
        diff = (cached[cols].reset_index(drop=True).compare(whole.reset_index(drop=True)))
        print(diff.head(20).to_string())


def cmd_summary(args) -> None:
    """The primary's ALL cumulative cells per world: bias, interval coverage, coverage of
    the sensitivity bounds, and the time-to-event bias at each horizon (Markdown)."""
    out = Path(args.out)
    files = sorted((out / "replicates").glob("*/*.csv"))
    m = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    m = m[(m.method == "calibrated") & (m.offense_type == "ALL")
          & (m.rate_kind == "cumulative")]
    m = m.assign(err=(m.estimate - m.truth) * 100,
                 cov=(m.ci_low <= m.truth) & (m.truth <= m.ci_high),
                 bcov=(m.bound_low <= m.truth) & (m.truth <= m.bound_high))
    g = m.groupby(["world", "stage"]).agg(reps=("err", "size"), bias_pp=("err", "mean"),
                                          coverage=("cov", "mean"),
                                          bounds_coverage=("bcov", "mean"))
    print(_md(g.round(2).reset_index()))
    h_files = sorted((out / "horizons").glob("*/*.csv"))
    if h_files:
        h = pd.concat([pd.read_csv(f) for f in h_files], ignore_index=True)
        h = h[h.offense_type == "ALL"]
        h = h.assign(err=(h.estimate - h.truth) * 100,
                     horizon=np.where(h.is_longest, "longest", h.horizon_days.astype(str)))
        t = h.pivot_table(index=["world", "stage"], columns="horizon", values="err",
                          aggfunc="mean")
        print("\ntime to event, ALL: mean bias (pp) of the weighted Kaplan-Meier rate\n")
        print(_md(t.round(2).reset_index()))
        if "ci_low" in h:  # intervals since they were added
            h = h.dropna(subset=["ci_low"]).assign(
                cov=lambda d: (d.ci_low <= d.truth) & (d.truth <= d.ci_high))
            c = h.pivot_table(index=["world", "stage"], columns="horizon", values="cov",
                              aggfunc="mean")
            print("\ntime to event, ALL: coverage of the 95% interval for these referrals\n")
            print(_md(c.round(2).reset_index()))


def cmd_review(args) -> None:
    """The review-size sweep: per world, method (calibrated, then reviewed_<size>) and
    stage, bias (pp), coverage and mean interval width (pp) of the cumulative rates, for
    ALL and over the offense-type cells with >= 1,000 referrals (Markdown)."""
    from linkage.reporting.simulation import summarise

    out = Path(args.out)
    reps = pd.concat([pd.read_csv(f) for f in sorted((out / "replicates").glob("*/*.csv"))],
                     ignore_index=True)
    reps = reps[(reps.method == "calibrated") | reps.method.str.startswith("reviewed_")]
    s = summarise(reps, by=("world",))
    s = s[s.rate_kind == "cumulative"]
    size = pd.to_numeric(s.method.str.extract(r"reviewed_(\d+)")[0]).fillna(0).astype(int)
    s = s.assign(review_size=size, bias_pp=s.bias * 100, width_pp=s.mean_ci_width * 100)
    cols = ["world", "review_size", "stage", "replicates", "bias_pp", "coverage", "width_pp"]
    print("ALL offense types\n")
    print(_md(s[s.offense_type == "ALL"].sort_values(["world", "stage", "review_size"])[cols]
              .round(3)))
    big = s[(s.offense_type != "ALL") & (s.n_referrals >= 1000)]
    agg = big.groupby(["world", "review_size"]).agg(
        cells=("bias", "size"), max_abs_bias_pp=("bias_pp", lambda b: b.abs().max()),
        mean_coverage=("coverage", "mean"), min_coverage=("coverage", "min"))
    print("\noffense-type cells with >= 1,000 referrals\n")
    print(_md(agg.round(3).reset_index()))


VALIDATED_METHODS = ("calibrated",)
"""Methods whose measured bias and coverage the report shows (and every reviewed_<size>)."""


def cmd_validation(args) -> None:
    """Write the report's validation tables from matrix folders made by ``estimate``: per
    world x method x cell the bias and coverage (``validation_cells.csv``) and per world
    the mean study features of its replicates (``validation_worlds.csv``). With
    ``--methods``, only those methods' cells (a prefix ends in ``_``) are replaced in the
    tables already in ``--to``; the rest and the worlds table stay as they are."""
    from linkage.reporting.simulation import summarise

    reps, feats = [], []
    for folder in (Path(f) for f in args.est.split(",")):
        params = json.loads((Path(args.linked) / RUN_FILE).read_text())
        for f in sorted((folder / "replicates").glob("*/*.csv")):
            r = pd.read_csv(f)
            keep = r.method.isin(VALIDATED_METHODS) | r.method.str.startswith("reviewed_")
            if args.methods:
                keep &= _matches(r.method, args.methods)
            reps.append(r[keep])
        for f in sorted((folder / "features").glob("*/*.json")):
            feats.append({"world": f.parent.name, "replicate": int(f.stem),
                          **json.loads(f.read_text())})
    rows = pd.concat(reps, ignore_index=True).drop_duplicates(
        ["world", "replicate", "method", "offense_type", "stage", "rate_kind"])
    cells = summarise(rows, by=("world",))[
        ["world", "method", "offense_type", "stage", "rate_kind", "replicates",
         "n_referrals", "bias", "coverage", "mean_ci_width"]].round(6)
    g = pd.DataFrame(feats).drop_duplicates(["world", "replicate"]).drop(
        columns="replicate").groupby("world")
    # the mean locates a world; the 5-95% range of its replicates is how far it reaches
    worlds = pd.concat([g.mean(), g.quantile(0.05).add_suffix("_p05"),
                        g.quantile(0.95).add_suffix("_p95")], axis=1).round(6).reset_index()
    worlds.insert(1, "scale", params["scale"])
    worlds.insert(2, "replicates", cells.groupby("world").replicates.max().reindex(
        worlds.world).to_numpy())
    out = Path(args.to)
    if args.methods:
        keys = ["world", "method", "offense_type", "stage", "rate_kind"]
        kept = pd.read_csv(out / "validation_cells.csv").set_index(keys)
        fresh = cells.set_index(keys)
        replaced = kept.index.droplevel([2, 3, 4]).isin(fresh.index.droplevel([2, 3, 4]))
        kept = kept[~replaced | kept.index.isin(fresh.index)]  # in the same row order
        both = kept.index.intersection(fresh.index)
        kept.loc[both] = fresh.loc[both, kept.columns]
        cells = pd.concat([kept, fresh[~fresh.index.isin(kept.index)]]).reset_index()
        cells.to_csv(out / "validation_cells.csv", index=False)
        print(f"{int(replaced.sum())} cells replaced in {out}")
        return
    cells.to_csv(out / "validation_cells.csv", index=False)
    worlds.to_csv(out / "validation_worlds.csv", index=False)
    print(f"{len(cells)} cells, {len(worlds)} worlds written to {out}")


def _matches(methods: pd.Series, spec: str) -> pd.Series:
    """Which of ``methods`` a comma-separated list names (an entry ending in _ a prefix)."""
    hit = pd.Series(False, index=methods.index)
    for m in (m for m in spec.split(",") if m):
        hit |= methods.str.startswith(m) if m.endswith("_") else methods == m
    return hit


def _primary_all(folder: Path) -> pd.DataFrame:
    files = sorted((folder / "replicates").glob("*/*.csv"))
    m = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    m = m[(m.method == "calibrated") & (m.offense_type == "ALL")
          & (m.rate_kind == "cumulative")]
    return m.assign(err=(m.estimate - m.truth) * 100,
                    cov=(m.ci_low <= m.truth) & (m.truth <= m.ci_high))


def cmd_compare(args) -> None:
    """Before and after on the replicates both folders hold (same seeds, same data): the
    primary's ALL cumulative bias (pp) and coverage per world and stage."""
    before, after = _primary_all(Path(args.before)), _primary_all(Path(args.out))
    keys = ["world", "replicate", "stage"]
    both = before[keys + ["err", "cov"]].merge(after[keys + ["err", "cov"]], on=keys,
                                               suffixes=("_before", "_after"))
    g = both.groupby(["world", "stage"]).agg(
        reps=("err_before", "size"), bias_before=("err_before", "mean"),
        bias_after=("err_after", "mean"), cov_before=("cov_before", "mean"),
        cov_after=("cov_after", "mean"))
    print(_md(g.round(2).reset_index()))


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    lk = sub.add_parser("link")
    lk.add_argument("--out", required=True)
    lk.add_argument("--scenario", default=ALL_WORLDS)
    lk.add_argument("--scale", type=float, default=0.05)
    lk.add_argument("--replicates", type=int, default=100)
    lk.add_argument("--seed", type=int, default=SIMULATION_SEED)
    lk.add_argument("--jobs", type=int, default=2)
    es = sub.add_parser("estimate")
    es.add_argument("--linked", required=True)
    es.add_argument("--out", required=True)
    es.add_argument("--scenario", default=None)
    es.add_argument("--replicates", type=int, default=None)
    es.add_argument("--n-boot", type=int, default=100)
    es.add_argument("--jobs", type=int, default=2)
    es.add_argument("--review-size", default="0")
    es.add_argument("--reviewer-error-rate", type=float, default=0.0)
    ck = sub.add_parser("check")
    ck.add_argument("--linked", required=True)
    ck.add_argument("--world", default="default")
    ck.add_argument("--replicate", type=int, default=0)
    ck.add_argument("--n-boot", type=int, default=100)
    sm = sub.add_parser("summary")
    sm.add_argument("--out", required=True)
    cp = sub.add_parser("compare")
    cp.add_argument("--before", required=True)
    cp.add_argument("--out", required=True)
    rv = sub.add_parser("review")
    rv.add_argument("--out", required=True)
    va = sub.add_parser("validation")
    va.add_argument("--linked", required=True)
    va.add_argument("--est", required=True, help="matrix folders, comma-separated")
    va.add_argument("--to", default="linkage/data")
    va.add_argument("--methods", default="",
                    help="replace only these methods' cells, e.g. reviewed_")
    args = ap.parse_args()
    {"review": cmd_review, "validation": cmd_validation, "link": cmd_link,
     "estimate": cmd_estimate, "check": cmd_check, "summary": cmd_summary,
     "compare": cmd_compare}[args.cmd](args)


if __name__ == "__main__":
    main()
