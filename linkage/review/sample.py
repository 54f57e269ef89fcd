"""``linkage review sample``: draw the review sample and write the reviewer's file.

The sample is drawn in the study database (``review_frame`` -> ``review_strata`` ->
``review_sample`` -> ``review_sheet``; design in :mod:`linkage.review.design`) and the
sheet is written to a CSV file: one row per sampled referral and candidate case, one row
with a blank ``case_id`` per sampled referral without a candidate, ``decision`` blank for
the reviewer. The file holds record-level identifiers (tokens for pseudonymised input):
it is written only on this explicit request, and the function logs a warning that says so
(the log names the file and counts, never a value).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from linkage import pipeline
from linkage.db import build_from_frame, build_table, quote_ident, quote_literal, table_exists
from linkage.errors import ConfigError, OutputError
from linkage.ingest import uses_pseudonyms
from linkage.review import design
from linkage.review.columns import CLEAR_FORM, PSEUDO_FORM, WARNING, identifier_columns
from linkage.review.page import write_review_page

log = logging.getLogger(__name__)

DEFAULT_MAX_CANDIDATES = 5
"""Candidate cases shown per sampled referral (its best-scoring ones); a reviewer who finds
the referral's case elsewhere adds it."""

@dataclass(frozen=True)
class ReviewSampleSummary:
    """What ``draw_sample`` drew: referrals in the frame and in the sample, strata, the
    sheet's rows and whether the identifiers are pseudonymised tokens."""

    n_referrals: int
    n_sampled: int
    n_strata: int
    n_rows: int
    pseudonymised: bool
    out: Path


def draw_sample(con: duckdb.DuckDBPyConnection, size: int, out: str | Path, *,
                seed: int, band_edges: tuple[float, ...] = design.DEFAULT_BAND_EDGES,
                max_candidates: int = DEFAULT_MAX_CANDIDATES,
                min_per_stratum: int = design.DEFAULT_MIN_PER_STRATUM,
                html: str | Path | None = None, warn: bool = True) -> ReviewSampleSummary:
    """Draw a stratified sample of ``size`` referrals and write the reviewer's CSV ``out``.

    Replaces any earlier sample, and the labels and estimates of it. With ``html``, also
    writes the offline review page there. ``warn`` False leaves out the warning that the
    file holds identifiers (a simulated review's file, deleted once answered).

    Raises:
        ConfigError: the database has no linked study, or a bad size or band edges.
        OutputError: ``out`` cannot be written.

    Example:
        >>> draw_sample(con, 500, "review.csv", seed=1)  # doctest: +SKIP
    """
    _check_args(con, size, band_edges, max_candidates)
    out = Path(out)
    if out.is_dir():
        raise OutputError(f"review file {out} is a folder, not a file")
    pseudo = uses_pseudonyms(con)
    con.execute("begin transaction")
    try:
        # the labels and estimates answered the old sample
        for table in (*pipeline.tables(pipeline.REVIEW_ESTIMATES),
                      *pipeline.tables(pipeline.REVIEW_LABELS)):
            con.execute(f"drop table if exists {quote_ident(table)}")
        build_table(con, "review/review_frame.sql", {"band_edges": list(band_edges)})
        _allocate(con, size, min_per_stratum)
        ids = con.sql("select referral_id from review_frame order by referral_id"
                      ).fetchnumpy()["referral_id"]
        build_from_frame(con, "review/review_sample.sql", "review_draw_input",
                         {"referral_id": ids, "draw_key": design.draw_keys(len(ids), seed)})
        build_table(con, "review/review_sheet.sql", {"max_candidates": int(max_candidates)})
        _write_sheet(con, out, PSEUDO_FORM if pseudo else CLEAR_FORM)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    n_ref, n_strata = con.sql("select sum(n_population), count(*) from review_strata"
                              " where n_population > 0").fetchall()[0]
    n_sampled = con.sql("select count(*) from review_sample").fetchall()[0][0]
    n_rows = con.sql("select count(*) from review_sheet").fetchall()[0][0]
    form = PSEUDO_FORM if pseudo else CLEAR_FORM
    if warn:
        log.warning(WARNING.format(path=out, form=form, n=n_sampled))
    if html is not None:
        write_review_page(con, html, form=form)
    return ReviewSampleSummary(int(n_ref), n_sampled, n_strata, n_rows, pseudo, out)


def _check_args(con: duckdb.DuckDBPyConnection, size: int,
                band_edges: tuple[float, ...], max_candidates: int) -> None:
    missing = [t for t in ("raw_referrals", "raw_case_outcomes", "stg_referrals",
                           "stg_case_outcomes", "scored_pairs", "links")
               if not table_exists(con, t)]
    if missing:
        raise ConfigError(f"the study database has no {', '.join(missing)}: run `linkage "
                          "load` and `linkage link` before drawing a review sample")
    if size < 1:
        raise ConfigError(f"review sample size: {size} must be at least 1")
    if max_candidates < 1:
        raise ConfigError(f"max candidates: {max_candidates} must be at least 1")
    edges = list(band_edges)
    if not edges or edges != sorted(set(edges)) or edges[0] <= 0 or edges[-1] >= 1:
        raise ConfigError(f"band edges: {edges} must be increasing, distinct and inside "
                          "(0, 1)")


def _allocate(con: duckdb.DuckDBPyConnection, size: int, min_per_stratum: int) -> None:
    rows = con.sql(
        "select offense_type, band, count(*) as n,"
        " avg(coalesce(best_probability, 0)) as p"
        " from review_frame group by all order by offense_type, band").fetchall()
    offenses = [r[0] for r in rows]
    sizes = [r[2] for r in rows]
    scores = design.stratum_scores(offenses, sizes, [r[3] for r in rows])
    n_h = design.allocate(sizes, scores, size, minimum=min_per_stratum)
    frame = {"offense_type": offenses, "band": [r[1] for r in rows], "score": scores,
             "n_sample": n_h}
    build_from_frame(con, "review/review_strata.sql", "review_allocation_input", frame)


def _write_sheet(con: duckdb.DuckDBPyConnection, out: Path, form: str) -> None:
    """COPY the sheet to ``out`` through a partial file and a rename (never half a file).
    The identifiers go from DuckDB to the file without passing through Python."""
    cols = ", ".join(
        ["review_id", "referral_id", "case_id", "inclusion_probability",
         "'' as decision", f"{quote_literal(form)} as identifier_form",
         *identifier_columns()])
    partial = out.parent / f".{out.name}.partial"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"copy (select {cols} from review_sheet order by review_id,"
                    f" case_id nulls last) to {quote_literal(str(partial))}"
                    " (format csv, header true)")
        os.replace(partial, out)
    except (OSError, duckdb.IOException) as exc:
        partial.unlink(missing_ok=True)
        raise OutputError(f"cannot write review file {out}: {exc}") from None
