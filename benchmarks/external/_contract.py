"""Shared by the external benchmarks: an external dataset onto the data contract, and scoring.

A :class:`_sources.Source` holds identifiers and true pairs only; the contract also needs
tips, dates, agencies, offense types and case stages. :func:`to_contract` synthesises them
with a fixed seed (``numpy.random.default_rng(seed)``, every draw made in the same order
whatever the variant, so variants differ only where they say):

* **ids**: ``referral_id`` = ``R`` + a 6-digit rank from a seeded permutation, ``case_id``
  = ``C`` + likewise, so neither id nor file order says which records pair up;
  ``tip_id`` = ``T`` + the referral's number (one tip per referral).
* **tips**: ``received_at`` = ``referred_at`` minus 0-7 whole days and 0-86,399 seconds
  (uniform); ``reporter_type`` ``esp``, ``incident_type`` ``unspecified``, ``is_urgent``
  false; every other tip column missing (the referral carries the identifiers).
* **referrals**: ``offense_type`` ``unspecified`` (one stratum), ``priority`` and
  ``agency_state`` missing; identifiers from the source (email, phone, username, ip
  missing: neither dataset has them).
* **case_outcomes**: ``investigated`` true for every case (each is an investigation);
  ``arrested_at`` for 20% of cases (uniform draw), ``opened_at`` + 7-180 days;
  ``charged_at`` for 80% of those, ``arrested_at`` + 0-60 days; ``convicted_at`` for 80% of
  those, ``charged_at`` + 30-365 days (all uniform, independent of the truth);
  ``offense_charged`` and ``cybertip_ref`` missing (no audit sample: no tip numbers).

Dates and agency by variant (``VARIANTS``); the study window starts 2023-01-01:

* ``planted`` - dates that carry the information real ones would: ``referred_at`` uniform
  over 365 days (day and second of day); a case with true referrals opens
  ``round(Gamma(shape 2, scale 20 days))`` after the earliest of them (median 34 days,
  90th percentile 78: deliberately not the lag the linkage model assumes), any other case
  uniformly over the window plus 90 days. Agency: ``agency-<value>`` of the identifier
  the source names (FEBRL4: each record's own recorded ``state``, so a typo is another
  agency; missing = ``agency-unknown``), or one agency when the source has none
  (pseudopeople: the sample is one county and the SSA file has no place).
* ``random`` - no information: one agency (``agency-1``); ``referred_at`` as above and
  ``opened_at`` uniform over the window plus 90 days for every case, independent of
  the truth.
* ``constant`` - no information: one agency; every referral at 2023-01-01 09:00 (tip
  the day before), every case opened 2023-01-31.

Scoring (the same for every method): a method gives candidate pairs with a probability;
:func:`best_links` keeps each referral's highest-probability case if it reaches the
threshold (0.5; ties to the smaller ``case_id``); :func:`score` counts them against the
distinct pairs of ``truth_links``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from _sources import Source

import linkage
from linkage.contract import CASE_OUTCOMES, REFERRALS, TIPS, Table
from linkage.db import quote_ident, quote_literal

VARIANTS = ("planted", "random", "constant")
THRESHOLD = 0.5
WINDOW_START = np.datetime64("2023-01-01T00:00:00", "s")
WINDOW_DAYS = 365
CASE_EXTRA_DAYS = 90
GAP_SHAPE, GAP_SCALE_DAYS = 2.0, 20.0
CONSTANT_OPENED_DAYS = 30
# Identifier columns of the staged tables (sql/staging/) a pair could be compared on.
STAGED_IDENTIFIERS = ("first_name", "last_name", "dob", "email", "phone", "username",
                      "city", "state", "zip")  # fmt: skip
_DAY = np.timedelta64(1, "D")
_SEC = np.timedelta64(1, "s")


def _uniform_days(rng: np.random.Generator, lo: int, hi: int, n: int) -> np.ndarray:
    return rng.integers(lo, hi + 1, n) * _DAY


def _stages(rng: np.random.Generator, opened: np.ndarray) -> dict[str, np.ndarray]:
    """Arrest (20%), charge (80% of arrests), conviction (80% of charges) after opening."""
    n = len(opened)
    arrested = rng.random(n) < 0.2
    charged = arrested & (rng.random(n) < 0.8)
    convicted = charged & (rng.random(n) < 0.8)
    arrest_at = opened + _uniform_days(rng, 7, 180, n)
    charge_at = arrest_at + _uniform_days(rng, 0, 60, n)
    convict_at = charge_at + _uniform_days(rng, 30, 365, n)
    nat = np.datetime64("NaT")
    return {
        "arrested_at": np.where(arrested, arrest_at, nat),
        "charged_at": np.where(charged, charge_at, nat),
        "convicted_at": np.where(convicted, convict_at, nat),
    }


def _agency(values: pd.Series | None, n: int) -> np.ndarray:
    if values is None:
        return np.full(n, "agency-1", dtype=object)
    low = values.astype("object").str.strip().str.lower()
    return ("agency-" + low.where(low.notna() & (low != ""), "unknown")).to_numpy(dtype=object)


def to_contract(source: Source, variant: str, seed: int) -> dict[str, pd.DataFrame]:
    """The contract's tables (and ``truth_links``) for ``source`` with synthesised columns.

    Args:
        source: identifiers and true pairs.
        variant: one of :data:`VARIANTS` (how dates and agency are made; see the module).
        seed: seed of every draw.

    Returns:
        ``tips``, ``referrals``, ``case_outcomes`` and ``truth_links`` as DataFrames.

    Example:
        >>> from _sources import febrl4
        >>> tables = to_contract(febrl4(limit=5), "planted", seed=1)
        >>> sorted(tables), len(tables["truth_links"])
        (['case_outcomes', 'referrals', 'tips', 'truth_links'], 5)
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    rng = np.random.default_rng(seed)
    refs, cases = source.referrals, source.cases
    n_r, n_c = len(refs), len(cases)
    ref_id = np.char.add("R", np.char.zfill(rng.permutation(n_r).astype(str), 6))
    case_id = np.char.add("C", np.char.zfill(rng.permutation(n_c).astype(str), 6))
    # every draw below happens for every variant, in this order
    referred = WINDOW_START + _uniform_days(rng, 0, WINDOW_DAYS - 1, n_r) \
        + rng.integers(0, 86_400, n_r) * _SEC
    tip_lag = _uniform_days(rng, 0, 7, n_r) + rng.integers(0, 86_400, n_r) * _SEC
    free_open = (WINDOW_START + _uniform_days(rng, 0, WINDOW_DAYS + CASE_EXTRA_DAYS - 1, n_c))
    gaps = np.rint(rng.gamma(GAP_SHAPE, GAP_SCALE_DAYS, n_c)).astype(int) * _DAY

    truth = source.truth.merge(
        pd.DataFrame({"ref_key": refs["key"].to_numpy(), "referral_id": ref_id,
                      "referred": referred}), on="ref_key"
    ).merge(pd.DataFrame({"case_key": cases["key"].to_numpy(), "case_id": case_id}),
            on="case_key")  # fmt: skip
    if variant == "planted":
        first = truth.groupby("case_id")["referred"].min().dt.floor("D")
        pos = pd.Series(np.arange(n_c), index=case_id)
        opened = free_open.copy()
        idx = pos[first.index].to_numpy()
        opened[idx] = first.to_numpy().astype("datetime64[s]") + gaps[idx]
    elif variant == "random":
        opened = free_open
    else:
        referred = np.full(n_r, WINDOW_START + np.timedelta64(9 * 3600, "s"))
        tip_lag = np.full(n_r, _DAY)
        opened = np.full(n_c, WINDOW_START + CONSTANT_OPENED_DAYS * _DAY)
    opened = opened.astype("datetime64[D]")
    stages = _stages(rng, opened)
    column = source.agency_column if variant == "planted" else None

    tips = pd.DataFrame({
        "tip_id": np.char.add("T", np.char.lstrip(ref_id, "R")),
        "received_at": referred - tip_lag, "reporter_type": "esp",
        "incident_type": "unspecified", "is_urgent": False,
    })  # fmt: skip
    referrals = pd.DataFrame({
        "referral_id": ref_id, "tip_id": tips["tip_id"], "referred_at": referred,
        "agency_id": _agency(refs[column] if column else None, n_r),
        "offense_type": "unspecified",
        **{c: refs[c].to_numpy() for c in refs.columns if c != "key"},
    })  # fmt: skip
    outcomes = pd.DataFrame({
        "case_id": case_id, "agency_id": _agency(cases[column] if column else None, n_c),
        "opened_at": opened, **{c: cases[c].to_numpy() for c in cases.columns if c != "key"},
        "investigated": True, **stages,
    })  # fmt: skip
    return {
        "tips": tips.sort_values("tip_id", ignore_index=True),
        "referrals": referrals.sort_values("referral_id", ignore_index=True),
        "case_outcomes": outcomes.sort_values("case_id", ignore_index=True),
        "truth_links": truth[["referral_id", "case_id"]].sort_values(
            ["referral_id", "case_id"], ignore_index=True),
    }


def _copy(con: duckdb.DuckDBPyConnection, df: pd.DataFrame, table: Table | None,
          path: Path) -> None:
    """Write ``df`` as Parquet with every contract column of ``table``, typed as the
    contract says (absent optional columns as typed nulls)."""
    con.register("_external_frame", df)
    try:
        if table is None:
            cols = ", ".join(f"cast({quote_ident(c)} as varchar) as {quote_ident(c)}"
                             for c in df.columns)  # fmt: skip
        else:
            cols = ", ".join(
                f"cast({quote_ident(c.name) if c.name in df.columns else 'null'} as {c.dtype})"
                f" as {quote_ident(c.name)}"
                for c in table.columns
            )
        con.execute(f"copy (select {cols} from _external_frame) to {quote_literal(str(path))}"
                    " (format parquet)")  # fmt: skip
    finally:
        con.unregister("_external_frame")


def write_study(tables: dict[str, pd.DataFrame], folder: str | Path) -> Path:
    """Write the contract tables as Parquet into ``folder`` and the truth into ``truth/``.

    Example:
        >>> write_study(to_contract(src, "random", 1), "/tmp/febrl4")  # doctest: +SKIP
        PosixPath('/tmp/febrl4')
    """
    out = Path(folder)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        for table in (TIPS, REFERRALS, CASE_OUTCOMES):
            _copy(con, tables[table.name], table, out / f"{table.name}.parquet")
        _copy(con, tables["truth_links"], None, out / "truth" / "truth_links.parquet")
    finally:
        con.close()
    return out


def load_study(folder: str | Path, con: duckdb.DuckDBPyConnection) -> Any:
    """Load a written study through the contract (``load_input``) and its truth.

    Returns the ``LoadSummary`` (a contract violation raises ``ContractError``).
    """
    summary = linkage.load_input(folder, con)
    linkage.load_truth(Path(folder) / "truth", con)
    return summary


@dataclass(frozen=True)
class Scores:
    """Pairwise quality of one method's links against the truth."""

    n_links: int
    tp: int
    fp: int
    fn: int

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


def best_links(con: duckdb.DuckDBPyConnection, pairs: Any,
               threshold: float = THRESHOLD) -> Any:
    """Each referral's best case if its probability reaches ``threshold`` (an Arrow table of
    ``referral_id, case_id, probability``). ``pairs``: Arrow table or DataFrame with those
    columns."""
    con.register("_external_pairs", pairs)
    try:
        return con.sql(
            """
            select referral_id, case_id, probability from (
                select *, row_number() over (
                    partition by referral_id order by probability desc, case_id) as rank
                from _external_pairs where probability >= $t)
            where rank = 1
            """, params={"t": threshold},
        ).to_arrow_table()  # fmt: skip
    finally:
        con.unregister("_external_pairs")


def _truth_hits(con: duckdb.DuckDBPyConnection, pairs: Any) -> tuple[int, int, int]:
    """(pairs, true pairs among them, true pairs) for an Arrow table of pairs."""
    con.register("_external_scored", pairs)
    try:
        return con.sql(
            """
            with t as (select distinct referral_id, case_id from truth_links),
            p as (select distinct referral_id, case_id from _external_scored)
            select (select count(*) from p),
                   (select count(*) from p inner join t using (referral_id, case_id)),
                   (select count(*) from t)
            """
        ).fetchall()[0]
    finally:
        con.unregister("_external_scored")


def score(con: duckdb.DuckDBPyConnection, links: Any) -> Scores:
    """Precision/recall/F1 of ``links`` (Arrow: referral_id, case_id) against truth_links."""
    n, tp, n_true = _truth_hits(con, links)
    return Scores(n_links=n, tp=tp, fp=n - tp, fn=n_true - tp)


def pair_recall(con: duckdb.DuckDBPyConnection, candidates: Any) -> float:
    """Share of true pairs among a method's candidate pairs (its blocking recall)."""
    _, tp, n_true = _truth_hits(con, candidates)
    return tp / n_true if n_true else 0.0


def no_comparable_share(con: duckdb.DuckDBPyConnection) -> float:
    """Share of true pairs whose staged records share no identifier known on both sides
    (no method can link those: the ceiling). Needs ``stg_*`` (built by ``linkage.link``)."""
    both = " or ".join(f"(r.{c} is not null and c.{c} is not null)" for c in STAGED_IDENTIFIERS)
    return con.sql(
        f"""
        select avg(case when {both} then 0 else 1 end)
        from (select distinct referral_id, case_id from truth_links) as t
        inner join stg_referrals as r on r.unique_id = t.referral_id
        inner join stg_case_outcomes as c on c.unique_id = t.case_id
        """
    ).fetchall()[0][0]
