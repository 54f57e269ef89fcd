"""The linkage model for pseudonymised input (written by ``linkage pseudonymize``).

It mirrors :mod:`linkage.linking.model` comparison by comparison, level by level, with the
same output names (so ``mw_first_name`` ... ``mw_handle_name`` and everything downstream
are unchanged); only what the encodings cannot do exactly is replaced:

=============================================  ==========================================
clear model                                    on the encodings
=============================================  ==========================================
first name exact (TF)                          token equal (TF on tokens: same counts)
first name within one edit / Jaro-Winkler      Dice of the keyed bigram Bloom filters
first and last swapped                         tokens (one ``name`` keyspace)
DOB exact / day-month swapped / two of three   tokens of the date / of year + {day,
                                               month} / of component pairs
e-mail, username exact                         token equal
phone equal / one digit off / differs          token equal / a masked token agrees / none
surname within one edit (with place)           Dice of the surname Bloom filters
handle within two edits of the full name       Dice of handle and full-name filters
blocking ``left/right(phone, 5)``              tokens of the first / last five digits
=============================================  ==========================================

Every other level, the blocking rules, the deterministic rules for the prior, the EM
blocks and the temporal step are the clear model's, read from :mod:`linkage.linking.model`.
The Dice thresholds follow from what one or two edits do to a name's bigrams (see
``DICE_*``); they were set once, not fitted to truth, and gave the clear model's F1 at 10%
scale as they are (README, Privacy).

Detection: pseudonymised input carries the ``pseudo_scheme`` column on referrals and
case outcomes (the loader keeps extra columns); ``uses_pseudonyms`` checks it, and that
both sides were tokenised with the same key (``pseudo_key_check``).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import duckdb
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator

from linkage.ingest.staging import uses_pseudonyms
from linkage.linking import model as lm

CASES_DATASET = lm.CASES_DATASET
REFERRALS_DATASET = lm.REFERRALS_DATASET
# Dice of bigram sets for one edit: a substitution changes 2 of the n + 1 padded bigrams of
# an n-letter name, a transposition 3, an insertion or deletion 2 -> Dice ~ 0.6-0.8 for
# 4-8 letters; different common names mostly score < 0.5. DICE_CLOSE plays "within one
# edit", DICE_SIMILAR "Jaro-Winkler >= 0.88" (one edit in a short name, two in a long one).
DICE_CLOSE = 0.75
DICE_SIMILAR = 0.6
# The handle (an e-mail local part or username, letters only) against a full name: "within
# two edits" of ~12 letters.
DICE_HANDLE = 0.7


def _dice(left: str, right: str) -> str:
    """SQL for the Dice similarity of two Bloom filters (BLOB columns), NULL if either is."""
    a, b = f"{left}::bit", f"{right}::bit"
    return f"(2.0 * bit_count({a} & {b}) / nullif(bit_count({a}) + bit_count({b}), 0))"


def _first_name() -> cl.CustomComparison:
    first = "first_name"
    dice = _dice("first_name_bloom_l", "first_name_bloom_r")
    return cl.CustomComparison(
        comparison_levels=[
            cll.NullLevel(first),
            cll.ExactMatchLevel(first).configure(tf_adjustment_column=first),
            cll.CustomLevel(f"{dice} >= {DICE_CLOSE}",
                            label_for_charts=f"Dice >= {DICE_CLOSE} (about one edit)"),
            cll.CustomLevel(f"{dice} >= {DICE_SIMILAR}",
                            label_for_charts=f"Dice >= {DICE_SIMILAR} (similar)"),
            cll.CustomLevel(
                "first_name_l = last_name_r or first_name_r = last_name_l",
                label_for_charts="first and last swapped",
            ),
            cll.ElseLevel(),
        ],
        output_column_name="first_name",
    )


def _dob() -> cl.CustomComparison:
    two_of_three = "dob_ym_l = dob_ym_r or dob_yd_l = dob_yd_r or dob_md_l = dob_md_r"
    return cl.CustomComparison(
        comparison_levels=[
            cll.NullLevel("dob_token"),
            cll.ExactMatchLevel("dob_token"),
            # same year and {day, month}: after the exact level, day and month swapped
            cll.ExactMatchLevel("dob_swap").configure(label_for_charts="day and month swapped"),
            cll.CustomLevel(two_of_three, label_for_charts="two of year/month/day equal"),
            cll.ElseLevel(),
        ],
        output_column_name="dob",
    )


def _household() -> cl.CustomComparison:
    # The clear model's joint household comparison (see link_model._household for why),
    # level for level; phone distance and surname edits become encodings.
    surname = "last_name_l = last_name_r"
    phone = "phone_l = phone_r"
    zip_ = "zip_l = zip_r"
    region = "(state_l = state_r or agency_id_l = agency_id_r)"
    one_off = f"not ({phone}) and len(list_intersect(phone_masks_l, phone_masks_r)) > 0"
    differ = f"not ({phone}) and len(list_intersect(phone_masks_l, phone_masks_r)) = 0"
    surname_close = f"{_dice('last_name_bloom_l', 'last_name_bloom_r')} >= {DICE_CLOSE}"
    comparable = " or ".join(
        f"({c}_l is not null and {c}_r is not null)" for c in ("last_name", "phone", "zip")
    )
    return cl.CustomComparison(
        comparison_levels=[
            cll.CustomLevel(
                f"{surname} and {phone}", label_for_charts="surname and phone agree"
            ).configure(tf_adjustment_column="last_name"),
            cll.CustomLevel(phone, label_for_charts="phone agrees, surname not"),
            cll.CustomLevel(
                f"{one_off} and ({surname} or {zip_})",
                label_for_charts="phone one digit off, surname or ZIP agree",
            ),
            cll.CustomLevel(
                f"{differ} and {surname}", label_for_charts="phones differ, surname agrees"
            ),
            cll.CustomLevel(differ, label_for_charts="phones differ"),
            cll.CustomLevel(
                f"{surname} and {zip_}", label_for_charts="surname and ZIP agree"
            ).configure(tf_adjustment_column="last_name"),
            cll.CustomLevel(
                f"{surname} and {region}", label_for_charts="surname and state/agency agree"
            ).configure(tf_adjustment_column="last_name"),
            cll.CustomLevel(surname, label_for_charts="surname agrees, place not").configure(
                tf_adjustment_column="last_name"
            ),
            cll.CustomLevel(
                f"{surname_close} and ({zip_} or {region})",
                label_for_charts="surname close (Dice), place agrees",
            ),
            cll.CustomLevel(zip_, label_for_charts="ZIP agrees only").configure(
                tf_adjustment_column="zip"
            ),
            cll.CustomLevel(
                f"not ({comparable}) and {region}",
                label_for_charts="only state/agency comparable, agrees",
            ),
            cll.CustomLevel(
                f"not ({comparable})", label_for_charts="only state/agency comparable, differs"
            ),
            cll.CustomLevel(region, label_for_charts="state or agency agrees only"),
            cll.ElseLevel(),
        ],
        output_column_name="household",
    )


def _handle_name() -> cl.CustomComparison:
    # As link_model._handle_name: a handle spelling the other record's name, only where
    # the handle's side has no first name and the e-mails do not agree.
    def side(x: str, y: str) -> str:
        return (
            f"first_name_{x} is null and full_name_{y} is not null"
            f" and (email_name_{x} is not null or username_name_{x} is not null)"
        )

    def either(x: str, y: str, test: str) -> str:
        handles = ("email_name", "username_name")
        tests = " or ".join(test.format(h=h, x=x, y=y) for h in handles)
        return f"({side(x, y)} and ({tests}))"

    def level(test: str) -> str:
        return f"{either('l', 'r', test)} or {either('r', 'l', test)}"

    applies = (
        f"(({side('l', 'r')}) or ({side('r', 'l')})) and coalesce(email_l = email_r, false) = false"
    )
    close = _dice("{h}_bloom_{x}", "full_name_bloom_{y}") + f" >= {DICE_HANDLE}"
    return cl.CustomComparison(
        comparison_levels=[
            cll.CustomLevel(f"not ({applies})", label_for_charts="not applicable").configure(
                is_null_level=True
            ),
            cll.CustomLevel(
                level("{h}_{x} = full_name_{y}"), label_for_charts="handle = other's full name"
            ),
            cll.CustomLevel(
                level("{h}_{x} = initial_last_name_{y}"),
                label_for_charts="handle = other's initial + last name",
            ),
            cll.CustomLevel(
                level(close), label_for_charts=f"handle close to other's full name (Dice >= "
                f"{DICE_HANDLE})"
            ),
            cll.ElseLevel(),
        ],
        output_column_name="handle_name",
    )


def comparisons() -> list[Any]:
    """The model's comparisons, in ``MW_COLUMNS`` order (as :mod:`linkage.linking.model`).

    Example:
        >>> [c.create_output_column_name() for c in comparisons()][:2]
        ['first_name', 'dob']
    """
    return [
        _first_name(),
        _dob(),
        cl.ExactMatch("email"),
        cl.ExactMatch("username"),
        _household(),
        _handle_name(),
    ]


MW_COLUMNS = lm.MW_COLUMNS


def _on_tokens(rule: str) -> str:
    """A clear rule on the token columns: a DOB is its token, the phone's first/last five
    digits are their tokens.

    Raises:
        ValueError: the rule still applies a function after the mapping (a clear rule
            added to ``link_model`` that tokens cannot serve): fail loudly, at import,
            rather than block on hashes of nothing.
    """
    out = (
        rule.replace("l.dob = r.dob", "l.dob_token = r.dob_token")
        .replace("left(l.phone, 5) = left(r.phone, 5)", "l.phone_head = r.phone_head")
        .replace("right(l.phone, 5) = right(r.phone, 5)", "l.phone_tail = r.phone_tail")
    )
    if "(" in out or "l.dob " in out:
        raise ValueError(f"no token equivalent for the clear rule {rule!r}")
    return out


BLOCKING_RULES: tuple[str, ...] = tuple(_on_tokens(r) for r in lm.BLOCKING_RULES)
DETERMINISTIC_RULES: tuple[str, ...] = tuple(_on_tokens(r) for r in lm.DETERMINISTIC_RULES)
EM_RULES: tuple[str, ...] = tuple(_on_tokens(r) for r in lm.EM_RULES)
ASSUMED_RECALL = lm.ASSUMED_RECALL


def settings(probability_two_random_records_match: float = 1e-4) -> SettingsCreator:
    """Splink settings for pseudonymised input (``link_only``; as ``link_model.settings``).

    Example:
        >>> settings().link_type
        'link_only'
    """
    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons(),
        blocking_rules_to_generate_predictions=list(BLOCKING_RULES),
        probability_two_random_records_match=probability_two_random_records_match,
        retain_matching_columns=False,
        additional_columns_to_retain=["referral_date", "case_opened_date", "agency_id"],
        retain_intermediate_calculation_columns=True,
        em_convergence=1e-4,
        max_iterations=25,
    )


def model_for(con: duckdb.DuckDBPyConnection) -> ModuleType:
    """The model module for the study's input: this one for pseudonymised input, else
    :mod:`linkage.linking.model`.

    Example:
        >>> from linkage.db import connect
        >>> model_for(connect()).__name__
        'linkage.linking.model'
    """
    import sys

    return sys.modules[__name__] if uses_pseudonyms(con) else lm
