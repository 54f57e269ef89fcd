"""The review sheet as an offline HTML page: each sampled referral beside its candidate
cases, field by field, agreeing cells marked. Decisions are still written into the CSV
file; the page is for reading. Like the file it holds identifiers, so it is written only on
request (``linkage review sample --html``)."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import jinja2

from linkage.db import table_exists
from linkage.errors import ConfigError
from linkage.outputs import atomic_write_text
from linkage.resources import templates_dir
from linkage.review.columns import IDENTIFIERS, WARNING

log = logging.getLogger(__name__)


def _items(con: duckdb.DuckDBPyConnection) -> list[dict]:
    rows = con.sql("select * from review_sheet order by review_id, case_id nulls last").df()
    items: list[dict] = []
    for review_id, group in rows.groupby("review_id", sort=True):
        first = group.iloc[0]
        referral = {f: _text(first[f"referral_{f}"]) for f in IDENTIFIERS}
        cases = []
        for _, row in group[group["case_id"].notna()].iterrows():
            values = {f: _text(row["case_opened_date" if f == "date" else f"case_{f}"])
                      for f in IDENTIFIERS}
            agree = {f: "" if not (values[f] and referral[f])
                     else ("same" if values[f] == referral[f] else "diff") for f in IDENTIFIERS}
            cases.append({"case_id": row["case_id"], "values": values, "agree": agree})
        items.append({"review_id": review_id, "referral_id": first["referral_id"],
                      "referral": referral, "cases": cases})
    return items


def _text(value: object) -> str:
    if value is None or value != value:  # NaN != NaN; NaT too
        return ""
    if hasattr(value, "strftime"):  # dates as the CSV writes them
        return value.strftime("%Y-%m-%d")
    return str(value)


def write_review_page(con: duckdb.DuckDBPyConnection, out: str | Path, *,
                      form: str) -> Path:
    """Render ``review_sheet`` as the offline page ``out``; ``form`` says whether the
    identifiers are clear values or tokens.

    Raises:
        ConfigError: no review sample in the database.
        OutputError: ``out`` cannot be written.

    Example:
        >>> write_review_page(con, "review.html", form="clear")  # doctest: +SKIP
    """
    if not table_exists(con, "review_sheet"):
        raise ConfigError("the study database holds no review sample: run `linkage review "
                          "sample` first")
    items = _items(con)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates_dir()),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    html = env.get_template("review.html.j2").render(
        items=items, fields=IDENTIFIERS, form=form, n_referrals=len(items))
    path = atomic_write_text(out, html)
    log.warning(WARNING.format(path=path, form=form, n=len(items)))
    return path
