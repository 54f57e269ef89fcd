"""A simulated reviewer for synthetic studies: answers a review sheet from the truth.

For each sampled referral the reviewer marks ``match`` on the row of the referral's true
case (``truth_links``) and ``no_match`` on the others; a true case that is not among the
rows is found by searching, written into the blank row or a row added for it. With
probability ``error_rate`` (per referral, drawn from the seed in ``review_id`` order) the
reviewer errs instead: a referral with a true case gets no match at all (the case is
missed), one without gets its first candidate marked ``match`` (a false match). The
answered file has the sheet's shape, so it goes through ``linkage review import`` as a
person's would.

Example:
    >>> simulate_review(con, "review.csv", "labels.csv", error_rate=0.02, seed=1)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np

from linkage.db import table_exists
from linkage.errors import ConfigError
from linkage.outputs import atomic_write_text
from linkage.review.columns import identifier_columns
from linkage.review.labels import import_labels
from linkage.review.sample import draw_sample


def simulate_review(con: duckdb.DuckDBPyConnection, sheet: str | Path, out: str | Path, *,
                    error_rate: float = 0.0, seed: int = 0) -> Path:
    """Answer the review file ``sheet`` from ``truth_links`` and write it to ``out``.

    Raises:
        ConfigError: no truth in the database, an error rate outside [0, 1], or ``sheet``
            is missing.

    Example:
        >>> simulate_review(con, "review.csv", "labels.csv")  # doctest: +SKIP
    """
    import pandas as pd

    if not table_exists(con, "truth_links"):
        raise ConfigError("a simulated review needs truth_links (synthetic data only)")
    if not 0 <= error_rate <= 1:
        raise ConfigError(f"reviewer error rate: {error_rate} must be in [0, 1]")
    if not Path(sheet).is_file():
        raise ConfigError(f"{sheet}: no such review file")
    rows = pd.read_csv(sheet, dtype=str, keep_default_na=False)
    truth = con.sql("select referral_id, case_id as true_case from truth_links").df()
    rows = rows.merge(truth.drop_duplicates("referral_id"), on="referral_id", how="left")
    rows["true_case"] = rows["true_case"].fillna("")
    review_ids = np.sort(rows["review_id"].unique())
    errs = dict(zip(review_ids, np.random.default_rng(seed).random(len(review_ids))
                    < error_rate, strict=True))
    rows["errs"] = rows["review_id"].map(errs)
    answered = pd.concat([_answer(rows), _searched(rows)], ignore_index=True)
    answered["_blank_last"] = answered["case_id"] == ""
    answered = answered.sort_values(["review_id", "_blank_last", "case_id"], kind="stable")
    columns = [c for c in rows.columns if c not in ("true_case", "errs")]
    text = answered[columns].to_csv(index=False, lineterminator="\n")
    return atomic_write_text(out, text)


def simulated_review(con: duckdb.DuckDBPyConnection, size: int, *, seed: int,
                     error_rate: float = 0.0) -> None:
    """A whole review of a synthetic study: draw ``size`` referrals, answer the sheet from
    the truth, import the answers (replacing any earlier review). The files live in a
    temporary folder, removed at once.

    Example:
        >>> simulated_review(con, 500, seed=1)  # doctest: +SKIP
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="linkage_review_") as tmp:
        sheet, labels = Path(tmp) / "sheet.csv", Path(tmp) / "labels.csv"
        draw_sample(con, size, sheet, seed=seed, warn=False)
        simulate_review(con, sheet, labels, error_rate=error_rate, seed=seed)
        import_labels(con, labels)


def _answer(rows):  # pandas in, pandas out
    """The sheet's rows with a decision: truthful, or the referral's error."""
    is_true = (rows["case_id"] != "") & (rows["case_id"] == rows["true_case"])
    first_candidate = (rows["case_id"] != "") & ~rows.duplicated("review_id")
    truthful = np.where(is_true, "match", "no_match")
    wrong = np.where((rows["true_case"] == "") & first_candidate, "match", "no_match")
    out = rows.copy()
    out["decision"] = np.where(rows["errs"], wrong, truthful)
    # a truthful reviewer writes a searched-for case into the blank row
    fill = (rows["case_id"] == "") & (rows["true_case"] != "") & ~rows["errs"]
    out.loc[fill, "case_id"] = rows.loc[fill, "true_case"]
    out.loc[fill, "decision"] = "match"
    return out


def _searched(rows):  # pandas in, pandas out
    """Rows added for true cases the sheet did not show (referrals with candidates only:
    a referral without any has a blank row, filled in by ``_answer``)."""
    shown = (rows["case_id"] != "") & (rows["case_id"] == rows["true_case"])
    found = shown.groupby(rows["review_id"]).transform("any")
    has_blank = (rows["case_id"] == "").groupby(rows["review_id"]).transform("any")
    need = (rows["true_case"] != "") & ~found & ~has_blank & ~rows["errs"]
    added = rows[need].drop_duplicates("review_id").copy()
    added["case_id"] = added["true_case"]
    added["decision"] = "match"
    for col in identifier_columns():
        if not col.startswith("referral_"):
            added[col] = ""
    return added
