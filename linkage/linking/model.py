"""The linkage model: Splink comparisons and blocking rules, and the temporal-step priors.

Kept apart from :mod:`linkage.linking.run` (the runner) so the model reads in one place. Every
column named here is built by ``sql/staging/stg_referrals.sql`` and
``sql/staging/stg_case_outcomes.sql``, which share one column set.

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
* Every comparison is left out of at least one EM training block, so all m values train.
* The case's own dates never enter the Splink model, so identity and timing stay separate
  (no double counting between the two steps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator

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

# Deterministic rules for the prior (lambda): pairs agreeing on these are almost surely
# matches. ASSUMED_RECALL is a stated assumption (not fitted to truth): the share of true
# pairs these rules find, given how often referrals lack names and cases change emails.
DETERMINISTIC_RULES: tuple[str, ...] = (
    "l.first_name = r.first_name and l.last_name = r.last_name and l.dob = r.dob",
    "l.email = r.email",
)
ASSUMED_RECALL = 0.6

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

# Temporal step. Buckets of (case opened - referral) in days and a PRIOR for the share of
# true referral->case links in each (m): investigations open weeks after the referral
# (taken as lognormal, median 21 days, 90th percentile 75 days) and ~3% of links reach an
# already open case. The prior only anchors the fit (GAP_PRIOR_WEIGHT pseudo-pairs): m is
# re-estimated from the data, since agencies may merge a suspect's later referrals into
# one case. The share among same-person pairs that are NOT links (u) is the gap
# distribution of random referral-case pairs, computed from the data and held fixed.
GAP_BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("before", -100_000, -1),
    ("0-14", 0, 14),
    ("15-30", 15, 30),
    ("31-60", 31, 60),
    ("61-120", 61, 120),
    ("121-365", 121, 365),
    ("over 365", 366, 100_000),
)
GAP_M: tuple[float, ...] = (0.03, 0.345, 0.277, 0.211, 0.1, 0.035, 0.002)
GAP_PRIOR_WEIGHT = 50.0
# Pairs at least this likely to be the same person are what the temporal step is fitted
# on: a two-class mixture (links / other same-person pairs) over gap bucket x agency
# agreement, by EM with u_gap fixed.
RHO_IDENTITY_FLOOR = 0.9
# Share of true links whose case was recorded by the referral's own agency. ASSUMPTION
# from the domain brief ("usually equals ... some cases recorded by another agency in the
# same state"). Held fixed: fitted freely, EM cannot tell it from the rate among other
# same-person pairs and agency stops informing the step.
M_AGENCY = 0.9

# Default decision threshold on match probability, see linkage.linking.run for why.
DEFAULT_THRESHOLD = 0.5
# Candidate pairs below this probability are not kept in scored_pairs.
SCORE_FLOOR = 0.001


def _duckdb_level(sql_condition: str, label_for_charts: str | None = None) -> cll.CustomLevel:
    """A custom level written in DuckDB SQL: Splink uses it as is on DuckDB and translates
    it (sqlglot) for another backend, e.g. Spark (``--backend spark``)."""
    return cll.CustomLevel(sql_condition, label_for_charts=label_for_charts,
                           base_dialect_str="duckdb")


def _first_name() -> cl.CustomComparison:
    # Personal: relatives share a surname, a phone and an address but not a first name, so
    # the first name is compared on its own (the surname is a household identifier).
    first = "first_name"
    return cl.CustomComparison(
        comparison_levels=[
            cll.NullLevel(first),
            cll.ExactMatchLevel(first).configure(tf_adjustment_column=first),
            cll.DamerauLevenshteinLevel(first, 1).configure(label_for_charts="within one edit"),
            cll.JaroWinklerLevel(first, 0.88).configure(label_for_charts="Jaro-Winkler >= 0.88"),
            _duckdb_level(
                "first_name_l = last_name_r or first_name_r = last_name_l",
                label_for_charts="first and last swapped",
            ),
            cll.ElseLevel(),
        ],
        output_column_name="first_name",
    )


def _dob() -> cl.CustomComparison:
    swapped = (
        "year(dob_l) = year(dob_r) and month(dob_l) = day(dob_r) and day(dob_l) = month(dob_r)"
    )
    two_of_three = (
        "(year(dob_l) = year(dob_r))::int + (month(dob_l) = month(dob_r))::int"
        " + (day(dob_l) = day(dob_r))::int = 2"
    )
    return cl.CustomComparison(
        comparison_levels=[
            cll.NullLevel("dob"),
            cll.ExactMatchLevel("dob"),
            _duckdb_level(swapped, label_for_charts="day and month swapped"),
            _duckdb_level(two_of_three, label_for_charts="two of year/month/day equal"),
            cll.ElseLevel(),
        ],
        output_column_name="dob",
    )


def _household() -> cl.CustomComparison:
    # Household identifiers in ONE comparison. Relatives (and a suspect's household) share
    # surname, phone and address, so these agree together far more often among non-matches
    # than independent random-pair u values would say; scored separately they double count
    # (a relative's case scored like the suspect's). One comparison gives each joint
    # pattern its own m and u. Agency stands in for place: agencies serve an area.
    surname = "last_name_l = last_name_r"
    phone = "phone_l = phone_r"
    zip_ = "zip_l = zip_r"
    region = "(state_l = state_r or agency_id_l = agency_id_r)"
    differ = "levenshtein(phone_l, phone_r) > 1"
    comparable = " or ".join(
        f"({c}_l is not null and {c}_r is not null)" for c in ("last_name", "phone", "zip")
    )
    return cl.CustomComparison(
        comparison_levels=[
            _duckdb_level(
                f"{surname} and {phone}", label_for_charts="surname and phone agree"
            ).configure(tf_adjustment_column="last_name"),
            _duckdb_level(phone, label_for_charts="phone agrees, surname not"),
            _duckdb_level(
                f"levenshtein(phone_l, phone_r) = 1 and ({surname} or {zip_})",
                label_for_charts="phone one digit off, surname or ZIP agree",
            ),
            # a phone known on both sides that differs is evidence against (a relative
            # shares the household phone; the suspect's own record rarely changes it)
            _duckdb_level(
                f"{differ} and {surname}", label_for_charts="phones differ, surname agrees"
            ),
            _duckdb_level(differ, label_for_charts="phones differ"),
            _duckdb_level(
                f"{surname} and {zip_}", label_for_charts="surname and ZIP agree"
            ).configure(tf_adjustment_column="last_name"),
            _duckdb_level(
                f"{surname} and {region}", label_for_charts="surname and state/agency agree"
            ).configure(tf_adjustment_column="last_name"),
            _duckdb_level(surname, label_for_charts="surname agrees, place not").configure(
                tf_adjustment_column="last_name"
            ),
            _duckdb_level(
                f"damerau_levenshtein(last_name_l, last_name_r) = 1 and ({zip_} or {region})",
                label_for_charts="surname within one edit, place agrees",
            ),
            _duckdb_level(zip_, label_for_charts="ZIP agrees only").configure(
                tf_adjustment_column="zip"
            ),
            # Nothing comparable (each of surname, phone and ZIP missing on a side) is a
            # level of its own: missingness is the same for matches and non-matches, so
            # only the region speaks; folded into "agrees only" it would be penalised.
            _duckdb_level(
                f"not ({comparable}) and {region}",
                label_for_charts="only state/agency comparable, agrees",
            ),
            _duckdb_level(
                f"not ({comparable})", label_for_charts="only state/agency comparable, differs"
            ),
            _duckdb_level(region, label_for_charts="state or agency agrees only"),
            cll.ElseLevel(),
        ],
        output_column_name="household",
    )


def _handle_name() -> cl.CustomComparison:
    # A handle (e-mail local part or username, letters only) spelling the other record's
    # name. Only where it is not redundant: the handle's side has no first name (else the
    # name comparison already speaks) and the e-mails do not agree (else e-mail does).
    def side(x: str, y: str) -> str:
        return (
            f"first_name_{x} is null and full_name_{y} is not null"
            f" and (email_name_{x} is not null or username_name_{x} is not null)"
        )

    def either(x: str, y: str, test: str) -> str:
        handles = (f"email_name_{x}", f"username_name_{x}")
        return f"({side(x, y)} and (" + " or ".join(test.format(h=h, y=y) for h in handles) + "))"

    def level(test: str) -> str:
        return f"{either('l', 'r', test)} or {either('r', 'l', test)}"

    applies = (
        f"(({side('l', 'r')}) or ({side('r', 'l')})) and coalesce(email_l = email_r, false) = false"
    )
    return cl.CustomComparison(
        comparison_levels=[
            _duckdb_level(f"not ({applies})", label_for_charts="not applicable").configure(
                is_null_level=True
            ),
            _duckdb_level(
                level("{h} = full_name_{y}"), label_for_charts="handle = other's full name"
            ),
            _duckdb_level(
                level("{h} = initial_last_name_{y}"),
                label_for_charts="handle = other's initial + last name",
            ),
            _duckdb_level(
                level("damerau_levenshtein({h}, full_name_{y}) <= 2"),
                label_for_charts="handle within 2 edits of other's full name",
            ),
            cll.ElseLevel(),
        ],
        output_column_name="handle_name",
    )


def comparisons() -> list[cl.CustomComparison | Any]:
    """The model's comparisons, in the order their ``mw_`` columns appear.

    Example:
        >>> [c.create_output_column_name() for c in comparisons()][:2]
        ['name', 'dob']
    """
    return [
        _first_name(),
        _dob(),
        # no term-frequency adjustment: an address is nearly unique to a person, and TF's
        # u (the value's own frequency, counting the match itself) understates that
        cl.ExactMatch("email"),
        cl.ExactMatch("username"),
        _household(),
        _handle_name(),
    ]


MW_COLUMNS: tuple[str, ...] = (
    "mw_first_name",
    "mw_dob",
    "mw_email",
    "mw_username",
    "mw_household",
    "mw_handle_name",
)


def settings(probability_two_random_records_match: float = 1e-4) -> SettingsCreator:
    """Splink settings for linking case outcomes to referrals (``link_only``).

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
        # the dates feed the temporal step, outside the Splink model
        additional_columns_to_retain=["referral_date", "case_opened_date", "agency_id"],
        retain_intermediate_calculation_columns=True,  # keeps the mw_ columns
        em_convergence=1e-4,
        max_iterations=25,
    )


@dataclass(frozen=True)
class TemporalFit:
    """Fitted temporal step, among likely same-person candidate pairs.

    Attributes:
        rho: share of them that are links.
        m_gap: gap-bucket distribution of links (fitted, anchored on ``GAP_M``).
        m_agency / u_agency: share agreeing on agency, links / other pairs.
        iterations: EM steps run.
    """

    rho: float
    m_gap: tuple[float, ...]
    m_agency: float
    u_agency: float
    iterations: int


def fit_temporal(
    cells: list[tuple[int, float, bool, int]],
    *,
    m_prior: tuple[float, ...] = GAP_M,
    prior_weight: float = GAP_PRIOR_WEIGHT,
    m_agency: float | None = M_AGENCY,
    max_iterations: int = 2000,
) -> TemporalFit:
    """EM for the two-class mixture over (gap bucket, agency agreement) cells.

    Links have gap distribution m (free, with ``prior_weight`` pseudo-pairs of
    ``m_prior``); other same-person pairs the random-pair distribution u (fixed), which
    anchors the classes. Agency agreement has a free rate in each class (conditional
    independence given the class). Identification is weak (the likelihood is nearly
    flat along a ridge trading rho against m), so the prior and the iteration cap
    matter: the fit is a regularised estimate, not an exact one.

    Args:
        cells: (bucket index, u_gap of the bucket, same_agency, count).
        m_prior: prior gap distribution of links, one value per bucket.
        prior_weight: pseudo-pairs the prior counts for.
        m_agency: fixed agency-agreement rate of links (None: fitted too).
        max_iterations: EM steps at most (stops when parameters move < 1e-9).

    Example:
        >>> cells = [(0, 0.1, True, 60), (1, 0.9, True, 40)]
        >>> fit_temporal(cells, m_prior=(0.9, 0.1), prior_weight=1.0).rho > 0.5
        True
    """
    n_b = len(m_prior)
    total = sum(c[3] for c in cells)
    if total == 0:  # no same-person pairs: no information, the prior and neutral rates
        return TemporalFit(0.5, tuple(m_prior), 0.5, 0.5, 0)
    rho, m_gap, m_ag, u_ag = 0.5, list(m_prior), m_agency or 0.9, 0.5
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 - reported below
        gap_link = [0.0] * n_b
        n_link = ag_link = ag_other = 0.0
        for b, u, same, n in cells:
            a = rho * m_gap[b] * (m_ag if same else 1 - m_ag)
            o = (1 - rho) * u * (u_ag if same else 1 - u_ag)
            w = a / (a + o) if a + o > 0 else 0.0
            n_link += n * w
            gap_link[b] += n * w
            ag_link += n * w * same
            ag_other += n * (1 - w) * same
        n_other = total - n_link
        new_m = [
            (g + prior_weight * p) / (n_link + prior_weight)
            for g, p in zip(gap_link, m_prior, strict=True)
        ]
        new = [
            n_link / total,
            m_agency if m_agency is not None else (ag_link / n_link if n_link else m_ag),
            ag_other / n_other if n_other else u_ag,
        ]
        new = [min(max(v, 1e-6), 1 - 1e-6) for v in new]
        moved = max(
            abs(x - y) for x, y in zip([*new, *new_m], [rho, m_ag, u_ag, *m_gap], strict=True)
        )
        (rho, m_ag, u_ag), m_gap = new, new_m
        if moved < 1e-9:
            break
    return TemporalFit(rho, tuple(m_gap), m_ag, u_ag, iterations)
