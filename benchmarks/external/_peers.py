"""The two peer methods of the external benchmarks, on the same standardised input as ours.

Both read only the identifier columns of the staged tables ``stg_referrals`` /
``stg_case_outcomes`` (built by ``linkage.link`` from the loaded contract tables: names
lower-cased, letters only, nicknames mapped; dates parsed; ZIPs to 5 digits), never the
dates or agency. An identifier is used when at least ``MIN_PRESENT`` of the records on
*each* side carry it (a column empty on one side can never be compared).

* :func:`generic_splink` - a Splink 5 model as a competent user writes it, after Splink's
  own FEBRL4 example: ``NameComparison`` on first and last name (term frequencies on the
  exact level), ``DateOfBirthComparison``, exact-with-TF ZIP and state, Jaro-Winkler city
  with TF, ``EmailComparison``/exact phone/exact username where present; blocking on
  first + last name, the two swapped, DOB, ZIP and each handle exactly (single-column
  rules are cheap at these sizes: tens of thousands of pairs); lambda from first + last
  name + DOB agreeing with an assumed recall of 0.7; u by random sampling (5M pairs,
  seeded); EM on two blocks, DOB and ZIP (first + last name when ZIP is absent).
* :func:`recordlinkage_ecm` - recordlinkage's own pipeline: ``Index`` with one ``block``
  per blocking rule above (their union), ``Compare`` with Jaro-Winkler >= 0.85 on names
  and city and exact agreement elsewhere (binary features; missing = 0, the default),
  ``ECMClassifier`` fitted on all candidate pairs; its ``prob`` is the match probability.

Each returns the candidate pairs with a probability; the caller keeps each referral's
best case at p >= 0.5 (:func:`_contract.best_links`), as for ours.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import duckdb
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

MIN_PRESENT = 0.01
CANDIDATES = ("first_name", "last_name", "dob", "email", "phone", "username", "city",
              "state", "zip")  # fmt: skip
U_MAX_PAIRS = 5e6
DETERMINISTIC_RECALL = 0.7
JW_THRESHOLD = 0.85
# (left columns, right columns): equal pairwise. The second rule is the names swapped.
_BLOCK_KEYS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("first_name", "last_name"), ("first_name", "last_name")),
    (("first_name", "last_name"), ("last_name", "first_name")),
    (("dob",), ("dob",)),
    (("zip",), ("zip",)),
    (("email",), ("email",)),
    (("phone",), ("phone",)),
    (("username",), ("username",)),
)


@dataclass(frozen=True)
class PeerRun:
    """One method's candidate pairs (``referral_id, case_id, probability``) and its time."""

    pairs: Any
    seconds: float
    identifiers: tuple[str, ...]


def present_identifiers(con: duckdb.DuckDBPyConnection) -> tuple[str, ...]:
    """Identifiers carried by at least ``MIN_PRESENT`` of the records on each side."""
    shares = []
    for table in ("stg_referrals", "stg_case_outcomes"):
        exprs = ", ".join(f"avg(({c} is not null)::int)" for c in CANDIDATES)
        shares.append(con.sql(f"select {exprs} from {table}").fetchall()[0])
    return tuple(c for c, a, b in zip(CANDIDATES, *shares, strict=True)
                 if min(a, b) >= MIN_PRESENT)  # fmt: skip


def blocking_keys(identifiers: tuple[str, ...]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The blocking rules (left columns, right columns) whose columns are all present."""
    return [keys for keys in _BLOCK_KEYS if set(keys[0]) <= set(identifiers)]


def _splink_rule(left: tuple[str, ...], right: tuple[str, ...]) -> Any:
    if left == right:
        return block_on(*left)
    return " and ".join(f"l.{a} = r.{b}" for a, b in zip(left, right, strict=True))


def _inputs(con: duckdb.DuckDBPyConnection, identifiers: tuple[str, ...]) -> tuple[Any, Any]:
    cols = ", ".join(("unique_id", *identifiers))
    return (con.sql(f"select {cols} from stg_referrals").to_arrow_table(),
            con.sql(f"select {cols} from stg_case_outcomes").to_arrow_table())


def _comparisons(identifiers: tuple[str, ...]) -> list[Any]:
    table = {
        "first_name": lambda: cl.NameComparison("first_name"),
        "last_name": lambda: cl.NameComparison("last_name"),
        "dob": lambda: cl.DateOfBirthComparison("dob", input_is_string=False),
        "email": lambda: cl.EmailComparison("email"),
        "phone": lambda: cl.ExactMatch("phone"),
        "username": lambda: cl.ExactMatch("username").configure(term_frequency_adjustments=True),
        "city": lambda: cl.JaroWinklerAtThresholds("city", [0.9]).configure(
            term_frequency_adjustments=True),
        "state": lambda: cl.ExactMatch("state").configure(term_frequency_adjustments=True),
        "zip": lambda: cl.ExactMatch("zip").configure(term_frequency_adjustments=True),
    }
    return [table[c]() for c in identifiers]


def scored_pairs(work: duckdb.DuckDBPyConnection, predictions: Any) -> Any:
    """Splink's predictions as (referral_id, case_id, probability), whichever side is which."""
    return work.sql(
        f"""
        select
            case when source_dataset_l = 'referrals' then unique_id_l else unique_id_r end
                as referral_id,
            case when source_dataset_l = 'referrals' then unique_id_r else unique_id_l end
                as case_id,
            match_probability as probability
        from {predictions.physical_name}
        """
    ).to_arrow_table()


def generic_splink(con: duckdb.DuckDBPyConnection, *, seed: int, threads: int) -> PeerRun:
    """Train and apply the generic Splink model on the staged identifiers (timed)."""
    identifiers = present_identifiers(con)
    refs, cases = _inputs(con, identifiers)
    start = time.perf_counter()
    work = duckdb.connect()
    work.execute(f"set threads = {int(threads)}")
    try:
        db_api = DuckDBAPI(work)
        sdf_c = db_api.register(cases, dataset_display_name="case_outcomes")
        sdf_r = db_api.register(refs, dataset_display_name="referrals")
        settings = SettingsCreator(
            link_type="link_only",
            comparisons=_comparisons(identifiers),
            blocking_rules_to_generate_predictions=[_splink_rule(*k) for k in
                                                    blocking_keys(identifiers)],
            retain_matching_columns=False,
        )  # fmt: skip
        linker = Linker([sdf_c, sdf_r], settings, log_level="ERROR")
        training = linker.training
        training.estimate_probability_two_random_records_match(
            [block_on("first_name", "last_name", "dob")], recall=DETERMINISTIC_RECALL)
        training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=seed)
        em = (("dob",), ("zip",) if "zip" in identifiers else ("first_name", "last_name"))
        for keys in em:
            training.estimate_parameters_using_expectation_maximisation(
                block_on(*keys), estimate_without_term_frequencies=True)
        predictions = linker.inference.predict()
        pairs = scored_pairs(work, predictions)
    finally:
        work.close()
    return PeerRun(pairs, time.perf_counter() - start, identifiers)


def recordlinkage_ecm(con: duckdb.DuckDBPyConnection) -> PeerRun:
    """recordlinkage's Index / Compare / ECMClassifier on the staged identifiers (timed)."""
    import pyarrow as pa
    import recordlinkage as rl

    identifiers = present_identifiers(con)
    refs, cases = (t.to_pandas().set_index("unique_id") for t in _inputs(con, identifiers))
    start = time.perf_counter()
    indexer = rl.Index()
    for left, right in blocking_keys(identifiers):
        indexer.block(left_on=list(left), right_on=list(right))
    candidates = indexer.index(refs, cases)
    compare = rl.Compare()
    for col in identifiers:
        if col in ("first_name", "last_name", "city"):
            compare.string(col, col, method="jarowinkler", threshold=JW_THRESHOLD, label=col)
        else:
            compare.exact(col, col, label=col)
    features = compare.compute(candidates, refs, cases)
    ecm = rl.ECMClassifier(binarize=None)
    ecm.fit(features)
    prob = ecm.prob(features)
    pairs = pa.table({
        "referral_id": pa.array(prob.index.get_level_values(0).astype(str)),
        "case_id": pa.array(prob.index.get_level_values(1).astype(str)),
        "probability": pa.array(prob.to_numpy(dtype=float)),
    })  # fmt: skip
    return PeerRun(pairs, time.perf_counter() - start, identifiers)
