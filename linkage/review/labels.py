"""``linkage review import``: the reviewer's decisions, checked against the sheet, stored.

The file is the sheet ``linkage review sample`` wrote, with ``decision`` filled in on every
row: ``match`` (this case is this referral's), ``no_match`` or ``unsure``. A reviewer who
finds a sampled referral's case elsewhere writes its ``case_id`` into the blank row or adds
a row with the same ``review_id``, ``referral_id`` and ``inclusion_probability`` (the case
side of an added row is not checked). Every rule is checked before anything is written;
the first violation stops the import with a one-line message naming the file, the line
(the spreadsheet's row number, the header being line 1) and the rule, never a value of an
identifier, and the database is left as it was. A valid file replaces earlier labels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from linkage import pipeline
from linkage.db import build_from_frame, quote_ident, table_exists
from linkage.errors import ReviewError
from linkage.review.columns import ID_COLUMNS, identifier_columns

log = logging.getLogger(__name__)

DECISIONS = ("match", "no_match", "unsure")

_REFERRAL_SIDE = [c for c in identifier_columns() if c.startswith("referral_")]
_CASE_SIDE = [c for c in identifier_columns() if not c.startswith("referral_")]


@dataclass(frozen=True)
class LabelsSummary:
    """What ``import_labels`` stored: rows, sampled referrals, and the decisions' counts."""

    n_rows: int
    n_referrals: int
    n_match: int
    n_no_match: int
    n_unsure: int


def has_labels(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the study database holds imported review labels.

    Example:
        >>> from linkage.db import connect
        >>> has_labels(connect())
        False
    """
    return table_exists(con, "review_labels")


def import_labels(con: duckdb.DuckDBPyConnection, path: str | Path) -> LabelsSummary:
    """Validate the labels file ``path`` against the drawn sample and store it as
    ``review_labels`` (replacing earlier labels and the estimates made from them).

    Raises:
        ReviewError: the file is missing or unreadable, or a row breaks a rule (the message
            names the line and the rule); nothing is written then.

    Example:
        >>> import_labels(con, "review.csv")  # doctest: +SKIP
    """
    path = Path(path)
    if not table_exists(con, "review_sheet"):
        raise ReviewError("the study database holds no review sample: run `linkage review "
                          "sample` first")
    frame = _read(path)
    con.register("review_labels_file", frame)
    try:
        _validate(con, path)
        labels = con.sql(
            "select review_id, referral_id, case_id, decision, line"
            " from review_labels_file order by line").arrow().read_all()
    finally:
        con.unregister("review_labels_file")
    con.execute("begin transaction")
    try:
        for table in pipeline.tables(pipeline.REVIEW_ESTIMATES):
            con.execute(f"drop table if exists {quote_ident(table)}")
        build_from_frame(con, "review/review_labels.sql", "review_labels_input", labels)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    counts = dict(con.sql("select decision, count(*) from review_labels group by all"
                          ).fetchall())
    n_ref = con.sql("select count(distinct review_id) from review_labels").fetchall()[0][0]
    log.info("imported %d review label(s) of %d sampled referral(s)", labels.num_rows, n_ref)
    return LabelsSummary(labels.num_rows, n_ref, counts.get("match", 0),
                         counts.get("no_match", 0), counts.get("unsure", 0))


def _read(path: Path) -> pa.Table:
    import pandas as pd

    if not path.is_file():
        raise ReviewError(f"{path}: no such labels file")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ReviewError(f"{path}: unreadable-file: not a CSV file ({first})") from None
    missing = [c for c in (*ID_COLUMNS, *identifier_columns()) if c not in frame.columns]
    if missing:
        raise ReviewError(f"{path}: line 1: missing-column: the header has no "
                          f"{', '.join(missing)} (write decisions into the file `linkage "
                          "review sample` wrote)")
    frame = frame[[*ID_COLUMNS, *identifier_columns()]].apply(lambda c: c.str.strip())
    frame["decision"] = frame["decision"].str.lower()
    columns = {"line": pa.array(range(2, len(frame) + 2), type=pa.int64())}
    for col in frame.columns:  # typed as text even where every value is blank
        columns[col] = pa.array([v or None for v in frame[col].tolist()], type=pa.string())
    return pa.table(columns)


def _same(column: str, sheet: str = "s") -> str:
    col = quote_ident(column)
    return f"coalesce(f.{col}, '') = coalesce(cast({sheet}.{col} as varchar), '')"


def _rules() -> list[tuple[str, str, str]]:
    """(rule, message, SQL condition true on a row that breaks it) in checking order; the
    query joins the file ``f`` to its sampled referral ``p`` and its sheet row ``s``."""
    decisions = ", ".join(f"'{d}'" for d in DECISIONS)
    edited = " or ".join(f"not ({_same(c, 's_any')})" for c in _REFERRAL_SIDE)
    edited_case = " or ".join(f"not ({_same(c)})" for c in _CASE_SIDE)
    return [
        ("decision-required", "decision is blank (write match, no_match or unsure)",
         "f.decision is null"),
        ("decision-values", "decision must be one of match, no_match, unsure",
         f"f.decision not in ({decisions})"),
        ("unknown-review-id", "review_id is not one of the sample's", "p.review_id is null"),
        ("unknown-referral-id", "referral_id is not the sampled referral of this review_id",
         "f.referral_id is distinct from p.referral_id"),
        ("unknown-case-id", "case_id is not a case record of the study",
         "f.case_id is not null and c.case_id is null"),
        ("edited-probability", "inclusion_probability differs from the sample's (it is "
         "the design weight: leave it as written)",
         "try_cast(f.inclusion_probability as double) is null or abs(try_cast("
         "f.inclusion_probability as double) - p.inclusion_probability) > 1e-9"),
        ("edited-identifiers", "a referral identifier differs from the sheet's (the "
         "identifiers are the record as linked: leave them as written)",
         f"s_any.review_id is not null and ({edited})"),
        ("edited-identifiers", "a case identifier differs from the sheet's (the "
         "identifiers are the record as linked: leave them as written)",
         f"s.review_id is not null and ({edited_case})"),
        ("match-needs-case", "decision match on a row with no case_id (write the case's "
         "case_id, or no_match)", "f.decision = 'match' and f.case_id is null"),
        ("duplicate-row", "the same review_id and case_id appear on two rows",
         "row_number() over (partition by f.review_id, f.case_id order by f.line) > 1"),
        ("two-matches", "a second row marked match for the same referral (a referral "
         "belongs to at most one case)",
         "f.decision = 'match' and count(*) filter (where f.decision = 'match') over "
         "(partition by f.review_id order by f.line) > 1"),
    ]


def _validate(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    base = """
        from review_labels_file as f
        left join review_sample as p on p.review_id = f.review_id
        left join raw_case_outcomes as c on c.case_id = f.case_id
        left join review_sheet as s
            on s.review_id = f.review_id and s.case_id is not distinct from f.case_id
        left join (select distinct on (review_id) * from review_sheet) as s_any
            on s_any.review_id = f.review_id
    """
    for rule, message, condition in _rules():
        # window rules need the condition computed before it can be filtered on
        hits = con.sql(f"select line, review_id from (select f.line, f.review_id,"
                       f" ({condition}) as broken {base}) where broken order by line"
                       ).fetchall()
        if hits:
            line, review_id = hits[0]
            where = f" (review_id {review_id})" if review_id else ""
            more = f"; {len(hits) - 1} more row(s) break it" if len(hits) > 1 else ""
            raise ReviewError(f"{path}: line {line}{where}: {rule}: {message}{more}")
    _check_complete(con, path)


def _check_complete(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Every sheet row is still in the file (the blank row may have become a case's)."""
    missing = con.sql("""
        select s.review_id, count(*) over () as n
        from review_sheet as s
        left join review_labels_file as f
            on f.review_id = s.review_id and f.case_id is not distinct from s.case_id
        where f.line is null
            and (s.case_id is not null
                 or s.review_id not in (select review_id from review_labels_file))
        order by s.review_id
    """).fetchall()
    if missing:
        review_id, n = missing[0]
        raise ReviewError(f"{path}: review_id {review_id}: missing-row: a row of the sheet "
                          f"is not in the file ({n} row(s) missing; every sampled referral "
                          "needs a decision, unsure where the reviewer cannot tell)")
