"""Synthetic scenario generator with known truth.

Writes ``tips``, ``referrals`` and ``case_outcomes`` exactly in the data contract (CSV or
Parquet), and ``truth/truth_links`` and ``truth/truth_referrals`` (per-referral true stages,
uncensored) beside them. numpy draws every random number from the scenario's seed
(``draws.py``); DuckDB SQL (``sql/generate/``) turns the draws into strings and writes the
files. The same seed gives byte-identical files.

Example:
    >>> from linkage.generation.scenario import load_scenario
    >>> s = generate(load_scenario(scale=0.0005), "/tmp/gen-doc")  # doctest: +SKIP
    >>> s.counts["referrals"] > 0  # doctest: +SKIP
    True
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from linkage.db import connect, quote_ident, quote_literal
from linkage.errors import ConfigError
from linkage.generation.records import StudyGenerator
from linkage.generation.scenario import Scenario
from linkage.outputs import atomic_folder

log = logging.getLogger(__name__)

FORMATS = ("parquet", "csv")

ProgressFn = Callable[[str, float], None]  # (step, fraction done)


@dataclass(frozen=True)
class GenerateSummary:
    """What ``generate`` wrote: counts (true, uncensored, per referral), files and time."""

    out_dir: Path
    fmt: str
    counts: dict[str, int]
    files: dict[str, Path]
    seconds: float


def generate(
    scenario: Scenario,
    out_dir: str | Path,
    *,
    fmt: str = "parquet",
    on_progress: ProgressFn | None = None,
    referred_tips_only: bool = False,
) -> GenerateSummary:
    """Generate a synthetic study into ``out_dir`` (replaced atomically if it exists).

    ``referred_tips_only`` leaves out the tips that were never referred (95% of the rows
    at the default's shares): the referrals, cases and truth are the same as in a full
    run, which is all a methodology replicate reads.

    Example:
        >>> from linkage.generation.scenario import load_scenario
        >>> summary = generate(load_scenario(scale=0.0005), "/tmp/g")  # doctest: +SKIP
        >>> summary.counts["tips"]  # doctest: +SKIP
        10250
    """
    if fmt not in FORMATS:
        raise ConfigError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    out = Path(out_dir)
    progress = on_progress or (lambda step, frac: None)
    start = time.perf_counter()
    with atomic_folder(out) as stage:
        (stage / "truth").mkdir()
        # A file-backed work database under connect()'s memory cap spills instead of
        # growing (national scale holds 20M tips)
        con = connect(stage / "work.duckdb")
        with con:
            counts = StudyGenerator(scenario, con, progress,
                                    referred_tips_only=referred_tips_only).run()
            files = _write(con, stage, fmt)
            progress("write files", 1.0)
        (stage / "work.duckdb").unlink()
    files = {k: out / v.relative_to(stage) for k, v in files.items()}
    seconds = time.perf_counter() - start
    log.info("generated %s tips, %s referrals in %.1f s", counts["tips"], counts["referrals"],
             seconds)
    return GenerateSummary(out, fmt, counts, files, seconds)


# file -> (work table, sort order, select list): tips sort on their integer twin of tip_id.
_OUTPUTS = {
    "tips": ("out_tips", "tip_num", "* exclude (tip_num)"),
    "referrals": ("gen_referrals", "referral_id", "*"),
    "case_outcomes": ("gen_case_outcomes", "case_id", "*"),
    "truth/truth_links": ("truth_links", "referral_id, case_id", "*"),
    "truth/truth_referrals": ("truth_referrals", "referral_id", "*"),
}


def _write(con: duckdb.DuckDBPyConnection, stage: Path, fmt: str) -> dict[str, Path]:
    files = {}
    parquet = fmt == "parquet"
    options = "(format parquet, compression zstd)" if parquet else "(header, delimiter ',')"
    for name, (table, order, cols) in _OUTPUTS.items():
        path = stage / f"{name}.{fmt}"
        con.execute(
            f"copy (select {cols} from {quote_ident(table)} order by {order}) "
            f"to {quote_literal(str(path))} {options}"
        )
        files[name.split("/")[-1]] = path
    return files
