"""What differs between linking clear and pseudonymised input: the fuzzy levels.

The model (:mod:`linkage.linking.model`) is written once; an ``Encoding`` supplies the few
levels the encodings compute differently. On clear input they are string distances; on
input written by ``linkage pseudonymize`` (tokens and keyed Bloom filters, see the
README's Privacy section) they are token equalities and Dice similarities:

=============================================  ==========================================
clear                                          pseudonymised
=============================================  ==========================================
first name within one edit / Jaro-Winkler      Dice of the keyed bigram Bloom filters
DOB exact / day-month swapped / two of three   tokens of the date / of year + {day,
                                               month} / of component pairs
phone one digit off / differs                  a masked-digit token agrees / none does
surname within one edit (with place)           Dice of the surname Bloom filters
handle within two edits of the full name       Dice of handle and full-name filters
blocking ``left/right(phone, 5)``, ``dob``     tokens of the first / last five digits, DOB
=============================================  ==========================================

The Dice thresholds follow from what one or two edits do to a name's bigrams: a
substitution changes 2 of the n + 1 padded bigrams of an n-letter name, a transposition 3,
an insertion or deletion 2, so Dice is about 0.6-0.8 for 4-8 letters while different
common names mostly score < 0.5. They were set once, not fitted to truth.

Example:
    >>> CLEAR.rule("left(l.phone, 5) = left(r.phone, 5)")
    'left(l.phone, 5) = left(r.phone, 5)'
    >>> PSEUDONYMISED.rule("left(l.phone, 5) = left(r.phone, 5)")
    'l.phone_head = r.phone_head'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import splink.comparison_level_library as cll

DICE_CLOSE = 0.75
"""Dice of two names' Bloom filters standing for "within one edit"."""
DICE_SIMILAR = 0.6
"""Dice standing for "Jaro-Winkler >= 0.88" (one edit in a short name, two in a long one)."""
DICE_HANDLE = 0.7
"""Dice of a handle against a full name standing for "within two edits" of ~12 letters."""


def level(sql_condition: str, label_for_charts: str | None = None) -> cll.CustomLevel:
    """A custom level written in DuckDB SQL: Splink uses it as is on DuckDB and translates
    it (sqlglot) for another backend, e.g. Spark (``--backend spark``)."""
    return cll.CustomLevel(sql_condition, label_for_charts=label_for_charts,
                           base_dialect_str="duckdb")


def dice(left: str, right: str) -> str:
    """SQL for the Dice similarity of two Bloom filters (BLOB columns), NULL if either is.

    Example:
        >>> dice("a_l", "a_r")
        '(2.0 * bit_count(a_l::bit & a_r::bit) / nullif(bit_count(a_l::bit) + bit_count(a_r::bit), 0))'
    """  # noqa: E501
    a, b = f"{left}::bit", f"{right}::bit"
    return f"(2.0 * bit_count({a} & {b}) / nullif(bit_count({a}) + bit_count({b}), 0))"


@dataclass(frozen=True)
class Encoding:
    """The encoding-specific pieces of the model (SQL conditions on the staged columns).

    Attributes:
        name: ``"clear"`` or ``"pseudonymised"``.
        first_name_fuzzy: the two fuzzy first-name levels (close, then similar).
        dob_column: the column the DOB null and exact levels read.
        dob_swapped: the "day and month swapped" level.
        dob_two_of_three: SQL: two of year / month / day agree.
        phone_one_off / phone_differs: SQL on a pair whose phones are both known.
        surname_close / surname_close_label: a surname one edit away (with place agreeing).
        handle_close / handle_close_label: a handle close to the other's full name; the
            template's ``{h}`` is the handle column, ``{x}`` its side, ``{y}`` the other.
        rule: a clear blocking rule in this encoding's columns.
    """

    name: str
    first_name_fuzzy: Callable[[], list[Any]]
    dob_column: str
    dob_swapped: Callable[[], Any]
    dob_two_of_three: str
    phone_one_off: str
    phone_differs: str
    surname_close: str
    surname_close_label: str
    handle_close: str
    handle_close_label: str
    rule: Callable[[str], str]

    @property
    def pseudonymised(self) -> bool:
        """Whether this encoding reads pseudonymised input."""
        return self.name == "pseudonymised"


def edits_within(left: str, right: str, k: int, *, exactly: bool = False) -> str:
    """SQL: the Damerau-Levenshtein distance of two strings is at most ``k`` (``exactly``:
    equal to ``k``), with two tests it implies first.

    An edit changes the length by at most one, and a transposition is two Levenshtein
    edits, so a pair within ``k`` differs in length by at most ``k`` and is within ``2k``
    Levenshtein edits. Both tests are cheap, and DuckDB evaluates the distance only on
    the pairs that pass them: a handful of the random pairs Splink's u estimate scores,
    where Damerau-Levenshtein alone was most of the estimate's time (about 1.6 us a
    pair, six times Levenshtein's). The level is the same, so is every score.

    Example:
        >>> edits_within("a_l", "a_r", 1)
        'abs(length(a_l) - length(a_r)) <= 1 and levenshtein(a_l, a_r) <= 2 and damerau_levenshtein(a_l, a_r) <= 1'
    """  # noqa: E501
    test = "=" if exactly else "<="
    return (f"abs(length({left}) - length({right})) <= {k}"
            f" and levenshtein({left}, {right}) <= {2 * k}"
            f" and damerau_levenshtein({left}, {right}) {test} {k}")


def _clear_first_name() -> list[Any]:
    return [level(edits_within("first_name_l", "first_name_r", 1), "within one edit"),
            cll.JaroWinklerLevel("first_name", 0.88).configure(
                label_for_charts="Jaro-Winkler >= 0.88")]


def _token_first_name() -> list[Any]:
    close = dice("first_name_bloom_l", "first_name_bloom_r")
    return [level(f"{close} >= {DICE_CLOSE}", f"Dice >= {DICE_CLOSE} (about one edit)"),
            level(f"{close} >= {DICE_SIMILAR}", f"Dice >= {DICE_SIMILAR} (similar)")]


def _on_tokens(rule: str) -> str:
    """A clear rule on the token columns: a DOB is its token, the phone's first/last five
    digits are their tokens.

    Raises:
        ValueError: the rule still applies a function after the mapping (a clear rule
            that tokens cannot serve): fail loudly rather than block on hashes of nothing.
    """
    out = (
        rule.replace("l.dob = r.dob", "l.dob_token = r.dob_token")
        .replace("left(l.phone, 5) = left(r.phone, 5)", "l.phone_head = r.phone_head")
        .replace("right(l.phone, 5) = right(r.phone, 5)", "l.phone_tail = r.phone_tail")
    )
    if "(" in out or "l.dob " in out:
        raise ValueError(f"no token equivalent for the clear rule {rule!r}")
    return out


_PHONE_EQUAL = "phone_l = phone_r"
_MASKS_SHARED = "len(list_intersect(phone_masks_l, phone_masks_r))"

CLEAR = Encoding(
    name="clear",
    first_name_fuzzy=_clear_first_name,
    dob_column="dob",
    dob_swapped=lambda: level(
        "year(dob_l) = year(dob_r) and month(dob_l) = day(dob_r) and day(dob_l) = month(dob_r)",
        "day and month swapped"),
    dob_two_of_three=("(year(dob_l) = year(dob_r))::int + (month(dob_l) = month(dob_r))::int"
                      " + (day(dob_l) = day(dob_r))::int = 2"),
    phone_one_off="levenshtein(phone_l, phone_r) = 1",
    phone_differs="levenshtein(phone_l, phone_r) > 1",
    surname_close=edits_within("last_name_l", "last_name_r", 1, exactly=True),
    surname_close_label="surname within one edit, place agrees",
    handle_close=edits_within("{h}_{x}", "full_name_{y}", 2),
    handle_close_label="handle within 2 edits of other's full name",
    rule=lambda rule: rule,
)
"""Clear input: standardised strings (``sql/staging/``)."""

PSEUDONYMISED = Encoding(
    name="pseudonymised",
    first_name_fuzzy=_token_first_name,
    dob_column="dob_token",
    # same year and {day, month}: after the exact level, day and month swapped
    dob_swapped=lambda: cll.ExactMatchLevel("dob_swap").configure(
        label_for_charts="day and month swapped"),
    dob_two_of_three="dob_ym_l = dob_ym_r or dob_yd_l = dob_yd_r or dob_md_l = dob_md_r",
    phone_one_off=f"not ({_PHONE_EQUAL}) and {_MASKS_SHARED} > 0",
    phone_differs=f"not ({_PHONE_EQUAL}) and {_MASKS_SHARED} = 0",
    surname_close=f"{dice('last_name_bloom_l', 'last_name_bloom_r')} >= {DICE_CLOSE}",
    surname_close_label="surname close (Dice), place agrees",
    handle_close=dice("{h}_bloom_{x}", "full_name_bloom_{y}") + f" >= {DICE_HANDLE}",
    handle_close_label=f"handle close to other's full name (Dice >= {DICE_HANDLE})",
    rule=_on_tokens,
)
"""Input written by ``linkage pseudonymize`` (``sql/staging_pseudonymised/``)."""
