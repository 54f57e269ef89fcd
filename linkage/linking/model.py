"""The linkage model as a typed value: Splink comparisons, blocking and training rules.

``build_model(encoding)`` writes the model once; the clear and the pseudonymised models
(``CLEAR_MODEL``, ``PSEUDONYMISED_MODEL``) differ only in their encoding's fuzzy levels
(:mod:`linkage.linking.encodings`), so they cannot drift apart. Every column named here is
built by the staging SQL (``sql/staging/`` or ``sql/staging_pseudonymised/``), which gives
both sides one column set. The temporal step is :mod:`linkage.linking.temporal`.

Design choices (why):

* Personal identifiers (first name, DOB, e-mail, username) and household identifiers
  (surname, phone, address) are scored apart. Relatives share surname, phone and address,
  so among non-matches those agree *together* far more often than independent random-pair
  u values assume; scored as separate comparisons they double count, and a relative's case
  scores like the suspect's. One ``household`` comparison gives each joint pattern its own
  m and u (measured at 10% scale: precision 0.895 -> 0.973 at p >= 0.5). Agency joins the
  place levels (an agency serves an area; a separate agency comparison double counts it).
* Exact or one-edit levels only on name-derived identifiers (email, username): fuzzy
  levels fire among relatives and namesakes far more often than random-pair u values
  assume, which double counts name evidence.
* The model scores *identity* (same person). Whether a same-person referral belongs to
  the case is a second, temporal step (:mod:`linkage.linking.run`): one person is often in
  several referrals but only the investigated ones lead to the case, and identifiers
  cannot tell those apart - only the gap between referral and case opening can.
* Blocking rules are plain SQL strings, symmetric in ``l``/``r``, so :mod:`linkage.linking.metrics`
  can replay them on the true pairs to measure blocking recall exactly.
* Every comparison is left out of at least one EM training block the input has pairs
  for, so all m values train: the blocks are chosen per input
  (:mod:`linkage.linking.training`), and a comparison left at defaults is reported.
* The case's own dates never enter the Splink model, so identity and timing stay separate
  (no double counting between the two steps).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator

from linkage.ingest import uses_pseudonyms
from linkage.linking.encodings import CLEAR, PSEUDONYMISED, Encoding, level

# Names of the two inputs as registered with Splink. "case_outcomes" sorts first, so it is
# the ``l`` side; nothing below depends on that.
CASES_DATASET = "case_outcomes"
REFERRALS_DATASET = "referrals"

# Candidate pairs: the OR of these (each symmetric in l/r; no rule reads truth). The set
# was chosen by looking at which true pairs of synthetic runs no rule found. Equi-join
# parts keep each rule fast; a one-digit phone error leaves either the first or the last
# five digits intact. Agency + ZIP was dropped: 4.1M pairs at 10% scale for 1.3% of true
# pairs, almost none of which scored >= 0.5.
# A rule on a common value alone grows quadratically with the data (pairs ~ N^2 / distinct
# values): at national scale ``dob`` alone gave 8.3M pairs, surname + agency 7.5M, initial +
# surname = e-mail name 7.4M and 3.2M, first + last name 3.8M - 33M candidates in all, most
# of the linkage time, for a few hundred links no other rule found. Those rules are
# narrowed by agency (state for the full name: cross-agency links with both names agreeing
# are the point of that rule) or by the first initial. That divides each block by the
# number of agencies (states, initials) - the growth is still ~quadratic, from a far smaller
# base: 2.4M candidates at full scale. Measured there, the narrowed rules keep 98.5% (dob)
# to 100% of the links only they found; F1 unchanged (README "Scale and benchmarks").
BLOCKING_RULES: tuple[str, ...] = (
    "l.email = r.email",
    "l.phone = r.phone",
    "l.username = r.username",
    "l.first_name = r.first_name and l.last_name = r.last_name and l.state = r.state",
    "l.first_name = r.last_name and l.last_name = r.first_name",
    "l.last_name = r.last_name and l.dob = r.dob",
    "l.first_name = r.first_name and l.dob = r.dob",
    "l.dob = r.dob and l.agency_id = r.agency_id",
    "l.email_name = r.full_name and l.agency_id = r.agency_id",
    "l.full_name = r.email_name and l.agency_id = r.agency_id",
    "l.username_name = r.full_name and l.agency_id = r.agency_id",
    "l.full_name = r.username_name and l.agency_id = r.agency_id",
    "l.email_name = r.initial_last_name and l.agency_id = r.agency_id",
    "l.initial_last_name = r.email_name and l.agency_id = r.agency_id",
    "left(l.phone, 5) = left(r.phone, 5) and l.agency_id = r.agency_id",
    "right(l.phone, 5) = right(r.phone, 5) and l.agency_id = r.agency_id",
    # surname + first initial within the agency, as the staged initial_last_name (an
    # equi-join that pseudonymised tokens serve unchanged)
    "l.agency_id = r.agency_id and l.initial_last_name = r.initial_last_name",
)

# Broad rules (single keys, ZIP + one name), added per input when their pair count stays
# within a budget (linkage.linking.blocking): cheap on small or sparse inputs, where pairs
# agreeing only on DOB, ZIP or both names are otherwise never proposed; left out where
# they would grow quadratically (national scale), where the narrowed rules above stand.
BROAD_BLOCKING_RULES: tuple[str, ...] = (
    "l.dob = r.dob",
    "l.zip = r.zip",
    "l.first_name = r.first_name and l.last_name = r.last_name",
    # ZIP with one name: true pairs whose DOB and other name both carry an error
    "l.zip = r.zip and l.last_name = r.last_name",
    "l.zip = r.zip and l.first_name = r.first_name",
)

# Deterministic rules for the provisional prior (lambda) that starts EM: pairs agreeing on
# these are almost surely matches. ASSUMED_RECALL is a stated starting value only: once m
# is trained, lambda is re-estimated from LAMBDA_RULES with a recall estimated from the
# data (linkage.linking.training).
DETERMINISTIC_RULES: tuple[str, ...] = (
    "l.first_name = r.first_name and l.last_name = r.last_name and l.dob = r.dob",
    "l.email = r.email",
)
ASSUMED_RECALL = 0.6
# Candidate rules for the final lambda, each with the comparisons whose exact-agreement m
# gives its recall (the one of highest estimated recall is used). The surname is not in
# them: it is scored jointly with phone and ZIP, so it has no exact-agreement m of its own.
LAMBDA_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("l.first_name = r.first_name and l.dob = r.dob", ("first_name", "dob")),
    ("l.email = r.email", ("email",)),
    ("l.username = r.username", ("username",)),
)

# EM blocks: tight (mostly the same person at any size), and between them every
# comparison is free to train in at least one block (the handle-name comparison only
# applies when e-mails differ and a first name is missing: it trains in the username
# block). Not phone: relatives share phones, and EM on a phone block learns "same
# surname and address, other first name" as a match.
EM_RULES: tuple[str, ...] = (
    "l.first_name = r.first_name and l.last_name = r.last_name and l.dob = r.dob",
    "l.email = r.email",
    "l.username = r.username",
)
# When the input lacks the identifiers the tight blocks need (no e-mail or username: a
# census, FEBRL), each comparison still untrained gets the first of these that leaves its
# columns and at least one other comparison free and has pairs (tight to loose;
# linkage.linking.training chooses). The first name comparison reads the surname too (its
# swapped level), so it needs a block on neither name; the date of birth, a block that
# leaves the household free too (the first name alone).
EM_FALLBACK_RULES: tuple[str, ...] = (
    "l.dob = r.dob and l.first_name = r.first_name",
    "l.first_name = r.first_name and l.last_name = r.last_name",
    "l.dob = r.dob and l.zip = r.zip",
    "l.dob = r.dob and l.state = r.state",
    "l.dob = r.dob",
    "l.first_name = r.first_name",
)

# Default decision threshold on match probability, see linkage.linking.run for why.
DEFAULT_THRESHOLD = 0.5
# Candidate pairs below this probability are not kept in scored_pairs.
SCORE_FLOOR = 0.001


def _first_name(enc: Encoding) -> cl.CustomComparison:
    # Personal: relatives share a surname, a phone and an address but not a first name, so
    # the first name is compared on its own (the surname is a household identifier).
    first = "first_name"
    return cl.CustomComparison(
        comparison_levels=[
            cll.NullLevel(first),
            cll.ExactMatchLevel(first).configure(tf_adjustment_column=first),
            *enc.first_name_fuzzy(),
            level("first_name_l = last_name_r or first_name_r = last_name_l",
                  "first and last swapped"),
            cll.ElseLevel(),
        ],
        output_column_name="first_name",
    )


def _dob(enc: Encoding) -> cl.CustomComparison:
    return cl.CustomComparison(
        comparison_levels=[
            cll.NullLevel(enc.dob_column),
            cll.ExactMatchLevel(enc.dob_column),
            enc.dob_swapped(),
            level(enc.dob_two_of_three, "two of year/month/day equal"),
            cll.ElseLevel(),
        ],
        output_column_name="dob",
    )


def _household(enc: Encoding) -> cl.CustomComparison:
    # Household identifiers in ONE comparison. Relatives (and a suspect's household) share
    # surname, phone and address, so these agree together far more often among non-matches
    # than independent random-pair u values would say; scored separately they double count
    # (a relative's case scored like the suspect's). One comparison gives each joint
    # pattern its own m and u. Agency stands in for place: agencies serve an area.
    surname = "last_name_l = last_name_r"
    phone = "phone_l = phone_r"
    zip_ = "zip_l = zip_r"
    region = "(state_l = state_r or agency_id_l = agency_id_r)"
    comparable = " or ".join(
        f"({c}_l is not null and {c}_r is not null)" for c in ("last_name", "phone", "zip")
    )
    tf = {"tf_adjustment_column": "last_name"}
    return cl.CustomComparison(
        comparison_levels=[
            level(f"{surname} and {phone}", "surname and phone agree").configure(**tf),
            level(phone, "phone agrees, surname not"),
            level(f"{enc.phone_one_off} and ({surname} or {zip_})",
                  "phone one digit off, surname or ZIP agree"),
            # a phone known on both sides that differs is evidence against (a relative
            # shares the household phone; the suspect's own record rarely changes it)
            level(f"{enc.phone_differs} and {surname}", "phones differ, surname agrees"),
            level(enc.phone_differs, "phones differ"),
            level(f"{surname} and {zip_}", "surname and ZIP agree").configure(**tf),
            level(f"{surname} and {region}", "surname and state/agency agree").configure(**tf),
            level(surname, "surname agrees, place not").configure(**tf),
            level(f"{enc.surname_close} and ({zip_} or {region})", enc.surname_close_label),
            level(zip_, "ZIP agrees only").configure(tf_adjustment_column="zip"),
            # Nothing comparable (each of surname, phone and ZIP missing on a side) is a
            # level of its own: missingness is the same for matches and non-matches, so
            # only the region speaks; folded into "agrees only" it would be penalised.
            level(f"not ({comparable}) and {region}", "only state/agency comparable, agrees"),
            level(f"not ({comparable})", "only state/agency comparable, differs"),
            level(region, "state or agency agrees only"),
            cll.ElseLevel(),
        ],
        output_column_name="household",
    )


def _handle_name(enc: Encoding) -> cl.CustomComparison:
    # A handle (e-mail local part or username, letters only) spelling the other record's
    # name. Only where it is not redundant: the handle's side has no first name (else the
    # name comparison already speaks) and the e-mails do not agree (else e-mail does).
    def side(x: str, y: str) -> str:
        return (
            f"first_name_{x} is null and full_name_{y} is not null"
            f" and (email_name_{x} is not null or username_name_{x} is not null)"
        )

    def either(x: str, y: str, test: str) -> str:
        tests = " or ".join(test.format(h=h, x=x, y=y) for h in ("email_name", "username_name"))
        return f"({side(x, y)} and ({tests}))"

    def both(test: str) -> str:
        return f"{either('l', 'r', test)} or {either('r', 'l', test)}"

    applies = (
        f"(({side('l', 'r')}) or ({side('r', 'l')})) and coalesce(email_l = email_r, false) = false"
    )
    return cl.CustomComparison(
        comparison_levels=[
            level(f"not ({applies})", "not applicable").configure(is_null_level=True),
            level(both("{h}_{x} = full_name_{y}"), "handle = other's full name"),
            level(both("{h}_{x} = initial_last_name_{y}"),
                  "handle = other's initial + last name"),
            level(both(enc.handle_close), enc.handle_close_label),
            cll.ElseLevel(),
        ],
        output_column_name="handle_name",
    )


MW_COLUMNS: tuple[str, ...] = (
    "mw_first_name",
    "mw_dob",
    "mw_email",
    "mw_username",
    "mw_household",
    "mw_handle_name",
)
"""The partial match weight columns of the comparisons, in order (in ``scored_pairs``)."""


@dataclass(frozen=True)
class LinkModel:
    """The linkage model: what Splink compares, how pairs are blocked and trained.

    Attributes:
        encoding: the input's encoding (clear or pseudonymised), whose fuzzy levels the
            comparisons use.
        blocking_rules: candidate pairs are the OR of these (symmetric in ``l``/``r``).
        deterministic_rules / assumed_recall: the provisional lambda that starts EM.
        lambda_rules / lambda_comparisons: candidate rules for the final lambda and the
            comparisons whose trained exact-agreement m gives each one's recall.
        em_rules: the tight blocks on which EM trains m (where the input has pairs).
        em_fallback_rules: blocks for comparisons the tight ones leave untrained.
        broad_blocking_rules: rules added to ``blocking_rules`` when the input's pair
            budget allows (:mod:`linkage.linking.blocking`).
        mw_columns: the comparisons' partial match weight columns, in order.
        applies_with: per comparison that can say something only when one of these
            columns is known (otherwise every pair falls in its null level), those columns;
            a comparison not named carries data when any column it reads is known.
    """

    encoding: Encoding
    blocking_rules: tuple[str, ...]
    deterministic_rules: tuple[str, ...]
    assumed_recall: float
    em_rules: tuple[str, ...]
    em_fallback_rules: tuple[str, ...] = ()
    broad_blocking_rules: tuple[str, ...] = ()
    lambda_rules: tuple[str, ...] = ()
    lambda_comparisons: tuple[tuple[str, ...], ...] = ()
    mw_columns: tuple[str, ...] = MW_COLUMNS
    applies_with: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def pseudonymised(self) -> bool:
        """Whether the model reads pseudonymised input."""
        return self.encoding.pseudonymised

    def comparisons(self) -> list[Any]:
        """The model's comparisons (new Splink objects each call), in ``mw_columns`` order.

        Example:
            >>> [c.create_output_column_name() for c in CLEAR_MODEL.comparisons()][:2]
            ['first_name', 'dob']
        """
        enc = self.encoding
        # no term-frequency adjustment on e-mail or username: a handle is nearly unique to
        # a person, and TF's u (the value's own frequency, counting the match) understates it
        return [_first_name(enc), _dob(enc), cl.ExactMatch("email"), cl.ExactMatch("username"),
                _household(enc), _handle_name(enc)]

    def settings(self, probability_two_random_records_match: float = 1e-4) -> SettingsCreator:
        """Splink settings for linking case outcomes to referrals (``link_only``).

        Example:
            >>> CLEAR_MODEL.settings().link_type
            'link_only'
        """
        return SettingsCreator(
            link_type="link_only",
            unique_id_column_name="unique_id",
            comparisons=self.comparisons(),
            blocking_rules_to_generate_predictions=list(self.blocking_rules),
            probability_two_random_records_match=probability_two_random_records_match,
            retain_matching_columns=False,
            # the dates feed the temporal step, outside the Splink model
            additional_columns_to_retain=["referral_date", "case_opened_date", "agency_id"],
            retain_intermediate_calculation_columns=True,  # keeps the mw_ columns
            em_convergence=1e-4,
            max_iterations=25,
        )


def build_model(encoding: Encoding) -> LinkModel:
    """The model for ``encoding``: the rules above, mapped into its columns.

    Example:
        >>> build_model(PSEUDONYMISED).blocking_rules[1]
        'l.phone = r.phone'
    """
    return LinkModel(
        encoding=encoding,
        blocking_rules=tuple(encoding.rule(r) for r in BLOCKING_RULES),
        deterministic_rules=tuple(encoding.rule(r) for r in DETERMINISTIC_RULES),
        assumed_recall=ASSUMED_RECALL,
        em_rules=tuple(encoding.rule(r) for r in EM_RULES),
        em_fallback_rules=tuple(encoding.rule(r) for r in EM_FALLBACK_RULES),
        broad_blocking_rules=tuple(encoding.rule(r) for r in BROAD_BLOCKING_RULES),
        lambda_rules=tuple(encoding.rule(r) for r, _ in LAMBDA_RULES),
        lambda_comparisons=tuple(c for _, c in LAMBDA_RULES),
        # the handle-name comparison compares an e-mail or username handle with a name
        applies_with={"handle_name": ("email_name", "username_name")},
    )


CLEAR_MODEL = build_model(CLEAR)
PSEUDONYMISED_MODEL = build_model(PSEUDONYMISED)


def model_for(con: duckdb.DuckDBPyConnection) -> LinkModel:
    """The model for the study's input: pseudonymised input (``uses_pseudonyms``) gets
    ``PSEUDONYMISED_MODEL``, everything else ``CLEAR_MODEL``.

    Example:
        >>> from linkage.db import connect
        >>> model_for(connect()).encoding.name
        'clear'
    """
    return PSEUDONYMISED_MODEL if uses_pseudonyms(con) else CLEAR_MODEL
