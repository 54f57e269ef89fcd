"""Unsupervised training chosen from the identifiers the input actually carries.

Which EM blocks can train which comparison depends on the data: a block trains every
comparison that reads none of the block rule's columns, and only if the block has pairs.
Inputs without e-mail or username (FEBRL, a census) need name and DOB blocks to train
name and DOB m values; inputs with handles train best on the tight handle blocks. So:

* **EM blocks.** The tight blocks (``model.EM_RULES``) run when they have pairs and free a
  comparison the input carries; then, for each comparison still untrained, the first of
  ``model.EM_FALLBACK_RULES`` (tight to loose) that leaves it free and has pairs.
* **Untrained comparisons.** A comparison whose columns carry data but that no block
  trained keeps Splink's default m values: said at WARNING and recorded (``TrainingReport``).
* **No veto.** Levels weighing more than ``MAX_AGAINST_BITS`` against a match are capped
  there (m raised to u / 2^cap, the comparison's m renormalised).
* **lambda.** From the deterministic rule with the highest estimated recall, where recall
  is not a constant but estimated: the share of pairs with the rule's columns known on
  both sides times the trained m of exact agreement of each of its comparisons (the
  model's own conditional independence). Before EM a provisional lambda from
  ``model.ASSUMED_RECALL`` starts the sessions; it is replaced once m is trained.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import duckdb
from splink import Linker

from linkage.linking._splink_em import run_em_session
from linkage.linking.model import LinkModel

log = logging.getLogger(__name__)

U_PAIRS_PER_RECORD = 10
"""Random pairs per record (of the larger input) sampled for Splink's u."""
U_MIN_PAIRS = 100_000
U_MAX_PAIRS = 2_000_000
"""Bounds of that sample (2M: reached at 200,000 records)."""


def u_sample_pairs(n_referrals: int, n_cases: int) -> float:
    """Random pairs for Splink's u estimate, sized to the data.

    u is the share of random pairs at each comparison level. The levels that carry the
    evidence are exact agreements on near-unique identifiers (e-mail, username, phone,
    full date of birth), whose share among random pairs is about one over the number of
    records: ``U_PAIRS_PER_RECORD`` x the larger input gives each such level about ten
    random agreements, so its u (and match weight) is known to about +-30% (+-0.4 bits),
    while the common levels are known far better than the spread between samples of the
    data. A fixed 2M sample would cost most of a small study's linkage time for
    precision nothing downstream can see; the stress matrix has always linked with this
    size.

    Example:
        >>> u_sample_pairs(41_000, 12_000), u_sample_pairs(800, 300)
        (410000.0, 100000.0)
    """
    pairs = U_PAIRS_PER_RECORD * max(n_referrals, n_cases)
    return float(min(U_MAX_PAIRS, max(U_MIN_PAIRS, pairs)))


SIGNIFICANT_DIGITS = 12
"""Trained parameters keep this many significant digits: far below any effect on a link
(a relative change of 1e-12 moves a match weight by about 1e-12 bits), far above the
16th-digit noise of parallel sums."""

MAX_AGAINST_BITS = 10.0
"""No comparison level may weigh more than this against a match (log2 m/u >= -10, a Bayes
factor of 1/1024): EM on tight blocks can train m of a disagreement level to about 0 (in
those blocks the same person never changes that field), which turns one differing field
into a veto (weights of -35 were seen). Capped, strong agreement elsewhere still decides.
A stated regularisation, not fitted; capped levels are logged."""

MIN_KNOWN_SHARE = 0.01
"""A column carries data when at least this share of records on each side has it."""

_STAGED = ("stg_referrals", "stg_case_outcomes")


@dataclass(frozen=True)
class TrainingReport:
    """What training did (rules and names only, never values from records).

    Attributes:
        em_rules: the EM blocks that ran, in order.
        untrained: comparisons whose columns carry data but kept Splink's default m.
        absent: comparisons whose columns carry no data on one side (nothing to train).
        deterministic_rule: the rule lambda was estimated from.
        deterministic_recall: its estimated recall (None: ``ASSUMED_RECALL`` was used).
    """

    em_rules: tuple[str, ...]
    untrained: tuple[str, ...]
    absent: tuple[str, ...]
    deterministic_rule: str
    deterministic_recall: float | None


def rule_columns(rule: str) -> set[str]:
    """Columns a blocking rule reads.

    Example:
        >>> sorted(rule_columns("l.dob = r.dob and left(l.phone, 5) = left(r.phone, 5)"))
        ['dob', 'phone']
    """
    return set(re.findall(r"\b[lr]\.(\w+)", rule))


def comparison_columns(model: LinkModel) -> dict[str, set[str]]:
    """Columns each comparison reads (from its levels' SQL), by output name.

    Example:
        >>> from linkage.linking.model import CLEAR_MODEL
        >>> sorted(comparison_columns(CLEAR_MODEL)["dob"])
        ['dob']
    """
    out = {}
    for c in model.comparisons():
        d = c.get_comparison("duckdb").as_dict()
        sql = " ".join(lv["sql_condition"] for lv in d["comparison_levels"])
        out[d["output_column_name"]] = set(re.findall(r"\b(\w+)_[lr]\b", sql))
    return out


def known_shares(con: duckdb.DuckDBPyConnection, columns: set[str]) -> dict[str, float]:
    """The smaller of the two sides' shares of records with each column known."""
    cols = sorted(columns)
    shares = []
    for table in _STAGED:
        names = {r[0] for r in con.execute(f"describe {table}").fetchall()}
        exprs = [f"avg(({c} is not null)::double)" if c in names else "0.0" for c in cols]
        shares.append(con.execute(f"select {', '.join(exprs)} from {table}").fetchall()[0])
    return {c: min(a or 0.0, b or 0.0) for c, a, b in zip(cols, *shares, strict=True)}


def _joint_known(con: duckdb.DuckDBPyConnection, columns: set[str]) -> float:
    """Share of referral-case pairs with every one of ``columns`` known on both sides."""
    cond = " and ".join(f"{c} is not null" for c in sorted(columns))
    share = 1.0
    for table in _STAGED:
        share *= con.execute(f"select avg(({cond})::double) from {table}").fetchall()[0][0] or 0
    return share


def _n_pairs(linker: Linker, rule: str) -> int:
    counts = linker.blocking_analysis.count_comparisons_from_blocking_rules(
        [rule], record_sample_proportion=1.0)
    return int(counts[0]["marginal_comparison_count"])


def plan_em_rules(linker: Linker, con: duckdb.DuckDBPyConnection, model: LinkModel,
                  ) -> tuple[list[str], set[str]]:
    """The EM blocks to run for this input, and the comparisons that carry data."""
    reads = comparison_columns(model)
    shares = known_shares(con, set().union(*reads.values()))
    carried = {name for name, cols in reads.items()
               if any(shares.get(c, 0.0) >= MIN_KNOWN_SHARE
                      for c in model.applies_with.get(name, cols))}
    counts: dict[str, int] = {}

    def usable(rule: str) -> bool:
        if any(shares.get(c, 0.0) < MIN_KNOWN_SHARE for c in rule_columns(rule)):
            return False
        if rule not in counts:
            counts[rule] = _n_pairs(linker, rule)
        return counts[rule] > 0

    def frees(rule: str) -> set[str]:
        return {n for n in carried if not reads[n] & rule_columns(rule)}

    chosen = [r for r in model.em_rules if frees(r) and usable(r)]
    covered = set().union(*(frees(r) for r in chosen)) if chosen else set()
    for name in sorted(carried - covered, key=list(reads).index):
        for rule in model.em_fallback_rules:
            # A block that leaves only this comparison free cannot train it: Splink drops
            # the fixed comparisons from the session, and one comparison alone is fitted
            # perfectly by calling its disagreement level a non-match (m = 0, a veto).
            if name in frees(rule) and len(frees(rule)) >= 2 and usable(rule):
                if rule not in chosen:
                    chosen.append(rule)
                covered |= frees(rule)
                break
    for rule in chosen:
        if counts[rule] < 100:
            log.warning("EM block %r has only %d pairs: its m values are noisy",
                        _short(rule), counts[rule])
    return chosen, carried


def _short(rule: str) -> str:
    return " and ".join(sorted(rule_columns(rule)))


def train(linker: Linker, inputs: list[Any], con: duckdb.DuckDBPyConnection, model: LinkModel,
          *, seed: int, u_max_pairs: float, em_max_pairs: float,
          ) -> tuple[Linker, float, TrainingReport]:
    """Train lambda, u and m (unsupervised) with blocks fitted to the input.

    Returns the trained linker, lambda and what was done.
    """
    training = linker.training
    provisional = model.deterministic_rules[0]
    training.estimate_probability_two_random_records_match(
        list(model.deterministic_rules), recall=model.assumed_recall)
    training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
    rules, carried = plan_em_rules(linker, con, model)
    reads = comparison_columns(model)
    trained: set[str] = set()
    ran: list[str] = []
    for rule in rules:
        after = run_em_session(linker, inputs, rule, max_pairs=em_max_pairs,
                               record_sample_proportion=1.0)
        if after is linker:  # the session ran (a rebuilt linker means it was skipped)
            ran.append(rule)
            trained |= {n for n in carried if not reads[n] & rule_columns(rule)}
        linker = after
    linker = _settled(_cap_weights(linker, inputs), inputs)
    untrained = tuple(n for n in reads if n in carried and n not in trained)
    absent = tuple(n for n in reads if n not in carried)
    for name in untrained:
        log.warning("comparison %r keeps Splink's default m values: no EM block with pairs "
                    "leaves its columns (%s) free", name, ", ".join(sorted(reads[name])))
    if absent:
        log.info("comparisons with no data on one side (not trained): %s", ", ".join(absent))
    rule, recall = _best_deterministic(linker, con, model, trained)
    if recall is None:
        log.warning("lambda from the assumed recall %.2f of %r: no deterministic rule's "
                    "comparisons were trained", model.assumed_recall, _short(provisional))
        rule = provisional
    else:
        linker.training.estimate_probability_two_random_records_match([rule], recall=recall)
    lam = float(linker.misc.save_model_to_json()["probability_two_random_records_match"])
    report = TrainingReport(tuple(ran), untrained, absent, rule, recall)
    return linker, lam, report


def cap_against(model: dict[str, Any], bits: float = MAX_AGAINST_BITS) -> list[str]:
    """Cap, in a saved Splink model (in place), every level's weight at ``-bits``; return
    "comparison: level" for each level capped.

    Example:
        >>> levels = [{"m_probability": 1e-12, "u_probability": 0.5, "label_for_charts": "x"},
        ...           {"m_probability": 1.0, "u_probability": 0.5, "label_for_charts": "y"}]
        >>> m = {"comparisons": [{"output_column_name": "c", "comparison_levels": levels}]}
        >>> cap_against(m), round(levels[0]["m_probability"] / levels[0]["u_probability"], 6)
        (['c: x'], 0.000976)
    """
    capped = []
    floor = 2.0 ** -bits
    for c in model["comparisons"]:
        # Levels no training pair fell in keep m = None (Splink's "not observed"): the
        # others are capped all the same, and keep their total.
        levels = [lv for lv in c["comparison_levels"] if not lv.get("is_null_level")
                  and all(isinstance(lv.get(k), float | int)
                          for k in ("m_probability", "u_probability"))]
        before = sum(lv["m_probability"] for lv in levels)
        for lv in levels:
            if lv["m_probability"] < lv["u_probability"] * floor:
                lv["m_probability"] = lv["u_probability"] * floor
                capped.append(f"{c['output_column_name']}: {lv.get('label_for_charts', '?')}")
        after = sum(lv["m_probability"] for lv in levels)
        for lv in levels:
            lv["m_probability"] *= before / after
    return capped


def _cap_weights(linker: Linker, inputs: list[Any]) -> Linker:
    """The linker rebuilt from its model with extreme weights against a match capped."""
    model = linker.misc.save_model_to_json()
    capped = cap_against(model)
    if not capped:
        return linker
    log.info("weights against a match capped at -%g bits: %s", MAX_AGAINST_BITS,
             "; ".join(capped))
    return Linker(inputs, model, log_level=None)


def round_parameters(model: dict[str, Any], digits: int = SIGNIFICANT_DIGITS) -> None:
    """Round, in a saved Splink model (in place), lambda and every level's m and u to
    ``digits`` significant digits.

    Example:
        >>> m = {"probability_two_random_records_match": 0.1 + 0.2, "comparisons": [
        ...     {"comparison_levels": [{"m_probability": 1 / 3, "u_probability": 0.5}]}]}
        >>> round_parameters(m)
        >>> m["probability_two_random_records_match"], m["comparisons"][0]["comparison_levels"]
        (0.3, [{'m_probability': 0.333333333333, 'u_probability': 0.5}])
    """
    def rounded(x: Any) -> Any:
        return float(f"{x:.{digits}g}") if isinstance(x, float) else x

    key = "probability_two_random_records_match"
    model[key] = rounded(model.get(key))
    for c in model["comparisons"]:
        for lv in c["comparison_levels"]:
            for k in ("m_probability", "u_probability"):
                if k in lv:
                    lv[k] = rounded(lv[k])


def _settled(linker: Linker, inputs: list[Any]) -> Linker:
    """The linker rebuilt from its model with the parameters rounded (same bits whatever
    the order DuckDB's threads added the training sums in)."""
    model = linker.misc.save_model_to_json()
    round_parameters(model)
    return Linker(inputs, model, log_level=None)


def _best_deterministic(linker: Linker, con: duckdb.DuckDBPyConnection, model: LinkModel,
                        trained: set[str]) -> tuple[str, float | None]:
    """The deterministic rule of highest estimated recall among those whose comparisons
    were all trained: (rule, recall), or (first rule, None) when none qualifies."""
    saved = linker.misc.save_model_to_json()
    exact_m = {}
    for c in saved["comparisons"]:
        levels = [lv for lv in c["comparison_levels"] if not lv.get("is_null_level")]
        m = levels[0].get("m_probability") if levels else None
        exact_m[c["output_column_name"]] = m if isinstance(m, float | int) else None
    best: tuple[str, float | None] = (model.deterministic_rules[0], None)  # fallback
    for rule, names in zip(model.lambda_rules, model.lambda_comparisons, strict=True):
        if not all(n in trained and exact_m.get(n) for n in names):
            continue
        recall = _joint_known(con, rule_columns(rule))
        for n in names:
            recall *= float(exact_m[n])
        if recall > 0.0 and (best[1] is None or recall > best[1]):
            best = (rule, min(recall, 1.0))
    if best[1] is not None:
        log.info("lambda from %r with estimated recall %.3f", _short(best[0]), best[1])
    return best
