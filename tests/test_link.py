"""Linkage model on a small hand-built population with known truth (fast: a few seconds)."""

from __future__ import annotations

import dataclasses
import logging
import math
import random
from datetime import date, datetime, timedelta

import duckdb
import pytest

from linkage.errors import ConfigError
from linkage.linking.model import CLEAR_MODEL
from linkage.linking.run import fit_temporal, link
from linkage.linking.training import (
    MAX_AGAINST_BITS,
    cap_against,
    comparison_columns,
    rule_columns,
)

FIRST = [
    "james",
    "mary",
    "robert",
    "patricia",
    "john",
    "jennifer",
    "michael",
    "linda",
    "david",
    "elizabeth",
    "william",
    "barbara",
    "richard",
    "susan",
    "joseph",
    "jessica",
    "thomas",
    "sarah",
    "charles",
    "karen",
    "daniel",
    "nancy",
    "matthew",
    "lisa",
    "anthony",
    "betty",
    "mark",
    "sandra",
    "donald",
    "ashley",
    "steven",
    "kimberly",
    "paul",
    "emily",
    "andrew",
]
LAST = [
    "smith",
    "johnson",
    "williams",
    "brown",
    "jones",
    "garcia",
    "miller",
    "davis",
    "rodriguez",
    "martinez",
    "hernandez",
    "lopez",
    "gonzalez",
    "wilson",
    "anderson",
    "thomas",
    "taylor",
    "moore",
    "jackson",
    "martin",
    "lee",
    "perez",
    "thompson",
    "white",
    "harris",
    "sanchez",
    "clark",
    "ramirez",
    "lewis",
    "robinson",
    "walker",
    "young",
]
NICK = {"robert": "Bob", "william": "Bill", "richard": "Rick", "michael": "Mike"}

REF_COLS = (
    "referral_id varchar, tip_id varchar, referred_at timestamp, agency_id varchar, "
    "agency_state varchar, offense_type varchar, priority bigint, first_name varchar, "
    "last_name varchar, dob date, email varchar, phone varchar, username varchar, ip varchar, "
    "city varchar, state varchar, zip varchar"
)
CASE_COLS = (
    "case_id varchar, agency_id varchar, opened_at date, first_name varchar, "
    "last_name varchar, dob date, email varchar, phone varchar, username varchar, "
    "city varchar, state varchar, zip varchar, offense_charged varchar, investigated boolean, "
    "arrested_at date, charged_at date, convicted_at date, cybertip_ref varchar"
)


def _typo(rng: random.Random, s: str) -> str:
    i = rng.randrange(1, len(s))
    return s[:i] + rng.choice("aeiourstn") + s[i + 1 :]


def make_population(con: duckdb.DuckDBPyConnection, *, n_people: int = 300, seed: int = 7,
                    agencies: int = 4, dated: bool = True, handles: bool = True) -> None:
    """Write raw_referrals, raw_case_outcomes and truth_links for a toy population.

    Each person gets one referral; 60% have a case (with light noise: nickname on the
    referral, a typo, a reformatted phone, a different email); plus unrelated cases.
    ``dated=False`` gives every referral and case the same date (no timing signal),
    ``handles=False`` leaves e-mail and username empty on both sides.
    """
    rng = random.Random(seed)
    people = []
    for p in range(n_people):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        dob = date(1960, 1, 1) + timedelta(days=rng.randrange(15000))
        phone = f"{rng.randrange(200, 999)}{rng.randrange(1000000, 9999999)}"
        agency = f"AG{rng.randrange(agencies)}"
        people.append((p, first, last, dob, phone, agency))
    refs, cases, truth = [], [], []
    start = datetime(2024, 1, 1)
    for p, first, last, dob, phone, agency in people:
        rid, referred = f"R{p:04d}", start + timedelta(days=rng.randrange(300) if dated else 0)
        fn = NICK.get(first, first.title()) if rng.random() < 0.5 else first.upper()
        has_name = rng.random() < 0.8
        refs.append(
            (
                rid,
                f"T{p:04d}",
                referred,
                agency,
                "TX",
                rng.choice(["csam", "enticement"]),
                1,
                fn if has_name else None,
                last.title() if has_name else None,
                dob if has_name else None,
                f"{first}.{last}{p}@Mail.com ",
                f"({phone[:3]}) {phone[3:6]}-{phone[6:]}",
                f"{first}{p}",
                "10.0.0.1",
                "Austin",
                "tx",
                "78701",
            )
        )
        if rng.random() < 0.6:
            cid = f"C{p:04d}"
            cases.append(
                (
                    cid,
                    agency,
                    (referred + timedelta(days=rng.randrange(5, 40) if dated else 0)).date(),
                    first.title(),
                    _typo(rng, last) if rng.random() < 0.2 else last,
                    dob,
                    f"{first}{p}@other.net"
                    if rng.random() < 0.5
                    else f"{first}.{last}{p}@mail.com",
                    f"+1 {phone[:3]}.{phone[3:6]}.{phone[6:]}",
                    f"{first}{p}" if rng.random() < 0.5 else None,
                    "austin",
                    "TX",
                    "78701",
                    None,
                    True,
                    None,
                    None,
                    None,
                    f"T{p:04d}" if rng.random() < 0.2 else None,
                )
            )
            truth.append((rid, cid))
    for k in range(n_people // 2):  # cases from other sources: other people
        cases.append(
            (
                f"X{k:04d}",
                f"AG{rng.randrange(agencies)}",
                date(2024, 6, 1) if dated else start.date(),
                rng.choice(FIRST).title(),
                rng.choice(LAST),
                date(1950, 1, 1) + timedelta(days=rng.randrange(20000)),
                None,
                None,
                None,
                "dallas",
                "TX",
                "75201",
                None,
                True,
                None,
                None,
                None,
                None,
            )
        )
    if not handles:
        refs = [(*r[:10], None, r[11], None, *r[13:]) for r in refs]
        cases = [(*c[:6], None, c[7], None, *c[9:]) for c in cases]
    con.execute(f"create or replace table raw_referrals ({REF_COLS})")
    con.execute(f"create or replace table raw_case_outcomes ({CASE_COLS})")
    con.executemany(f"insert into raw_referrals values ({', '.join(['?'] * 17)})", refs)
    con.executemany(f"insert into raw_case_outcomes values ({', '.join(['?'] * 18)})", cases)
    con.execute("create or replace table truth_links (referral_id varchar, case_id varchar)")
    con.executemany("insert into truth_links values (?, ?)", truth)


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    con = duckdb.connect()
    con.execute("set threads = 2")
    make_population(con)
    model_path = tmp_path_factory.mktemp("model") / "model.json"
    summary = link(con, model_path=model_path, u_max_pairs=2e5)
    yield con, summary
    con.close()


def test_links_obvious_match_and_rejects_non_matches(linked):
    con, summary = linked
    assert summary.n_links > 0
    pairs = dict(con.sql("select referral_id, case_id from links").fetchall())
    truth = dict(con.sql("select referral_id, case_id from truth_links").fetchall())
    # an exact copy of a referral's identifiers in its own case links
    assert all(pairs.get(r) in (None, c) for r, c in truth.items())
    tp = sum(pairs.get(r) == c for r, c in truth.items())
    assert tp / len(truth) > 0.9
    # no referral links to an unrelated case from another source
    assert not any(c.startswith("X") for c in pairs.values())


def test_tables_written_and_no_splink_leftovers(linked):
    con, summary = linked
    cols = [r[0] for r in con.sql("describe links").fetchall()]
    assert cols == ["referral_id", "case_id", "match_probability", "match_weight"]
    dupes = con.sql(
        "select count(*) from (select referral_id from links group by 1 having count(*) > 1)"
    ).fetchall()[0][0]
    assert dupes == 0
    assert con.sql("select min(match_probability) from links").fetchall()[0][0] >= 0.5
    leftovers = con.sql(
        "select count(*) from information_schema.tables where table_name like '__splink%'"
    ).fetchall()[0][0]
    assert leftovers == 0
    assert summary.model_path is not None and summary.model_path.is_file()
    # a fifth of the cases record their tip (~36 audit links): threshold selection is drawn
    assert set(summary.charts) == {"match_weights", "m_u_parameters", "match_weights_histogram",
                                   "threshold_selection_audit"}
    assert all("cdn.jsdelivr" not in html for html in summary.charts.values())


def test_bad_threshold_is_a_configuration_error():
    with pytest.raises(ConfigError, match="threshold must be in"):
        link(duckdb.connect(), threshold=0.0)


def test_fit_temporal_recovers_mixture_share():
    # 70% links with gap distribution m, 30% other same-person pairs with u; agency
    # agreement 0.9 among links and 0.6 among the others
    m, u, rho = (0.6, 0.3, 0.1), (0.1, 0.3, 0.6), 0.7
    cells = []
    for b, (mb, ub) in enumerate(zip(m, u, strict=True)):
        for same, pm, pu in ((True, 0.9, 0.6), (False, 0.1, 0.4)):
            n = round(100_000 * (rho * mb * pm + (1 - rho) * ub * pu))
            cells.append((b, ub, same, n))
    fit = fit_temporal(cells, m_prior=m, prior_weight=1.0)
    # the likelihood is flat along a ridge (m free, u fixed): EM gets close, not exact
    assert fit.rho == pytest.approx(0.7, abs=0.1)
    assert fit.m_agency == pytest.approx(0.9, abs=0.02)
    assert fit.u_agency == pytest.approx(0.6, abs=0.1)
    assert fit.m_gap[0] > fit.m_gap[2]


def test_one_agency_and_constant_dates_link_without_the_temporal_step():
    # no timing signal and a single agency: the temporal step switches itself off and the
    # identity model alone links (it once collapsed to rho ~ 0 and linked nothing)
    con = duckdb.connect()
    make_population(con, agencies=1, dated=False, seed=11)
    summary = link(con, u_max_pairs=2e5, charts=False)
    assert summary.temporal is not None and not summary.temporal.active
    assert "timing signal" in summary.temporal.reason
    n_true = con.execute("select count(*) from truth_links").fetchall()[0][0]
    hits = con.execute(
        "select count(*) from links join truth_links using (referral_id, case_id)"
    ).fetchall()[0][0]
    assert hits >= 0.8 * n_true
    timed = con.execute(
        "select count(*) from scored_pairs where temporal_probability is not null")
    assert timed.fetchall()[0][0] == 0
    con.close()


def test_planted_dates_keep_the_temporal_step_on(linked):
    _, summary = linked
    assert summary.temporal is not None and summary.temporal.active
    assert summary.facts().temporal_step == "on"


def test_audit_links_estimate_blocking_recall(linked):
    con, summary = linked
    n_audit = con.execute(
        "select count(*) from raw_case_outcomes where cybertip_ref is not null").fetchall()[0][0]
    assert summary.n_audit_links == n_audit > 0
    # every audit case shares the referral's phone (reformatted): all are blocked
    assert summary.audit_blocking_recall == 1.0


def _levels(model: dict, name: str) -> list[dict]:
    comparison = next(c for c in model["comparisons"] if c["output_column_name"] == name)
    return [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]


@pytest.fixture(scope="module")
def no_handles():
    con = duckdb.connect()
    make_population(con, handles=False, seed=5)
    yield con
    con.close()


def test_input_without_email_or_username_trains_name_and_dob(no_handles, caplog):
    # no e-mail or username on either side: the handle blocks have no pairs, so name, DOB
    # and household m values must come from name/DOB blocks chosen for this input
    with caplog.at_level(logging.WARNING, logger="linkage"):
        summary = link(no_handles, u_max_pairs=2e5, charts=False)
    assert summary.training is not None
    assert not {"first_name", "dob", "household"} & set(summary.training.untrained)
    assert {"email", "username", "handle_name"} <= set(summary.training.absent)
    assert summary.training.em_rules and not any("email" in r for r in summary.training.em_rules)
    for name in ("first_name", "dob"):
        exact = _levels(summary.model, name)[0]["m_probability"]
        assert 0.5 < exact < 1.0  # trained: most true pairs agree exactly
    assert not [r for r in caplog.records if "keeps Splink's default m" in r.getMessage()]
    assert summary.training.deterministic_recall is not None
    assert summary.facts().untrained_comparisons == ()
    # no EM block leaves a single comparison with data free (it would learn m = 0 for its
    # disagreement: a veto), and no level weighs below the cap, unobserved levels or not
    reads = comparison_columns(CLEAR_MODEL)
    carried = set(reads) - set(summary.training.absent)
    for rule in summary.training.em_rules:
        assert len({n for n in carried if not reads[n] & rule_columns(rule)}) >= 2, rule
    assert min(_weights(summary.model)) >= -MAX_AGAINST_BITS - 0.01


def test_the_cap_applies_beside_a_level_no_pair_fell_in():
    levels = [{"m_probability": 0.99, "u_probability": 1e-3, "label_for_charts": "exact"},
              {"m_probability": None, "u_probability": 1e-5, "label_for_charts": "swapped"},
              {"m_probability": 1e-5, "u_probability": 0.99, "label_for_charts": "else"}]
    model = {"comparisons": [{"output_column_name": "dob", "comparison_levels": levels}]}
    assert cap_against(model) == ["dob: else"]
    assert math.log2(levels[2]["m_probability"] / levels[2]["u_probability"]) > -10.01
    assert levels[1]["m_probability"] is None
    assert levels[0]["m_probability"] + levels[2]["m_probability"] == pytest.approx(0.99001)


def test_untrained_comparison_warning_fires_when_no_block_frees_it(no_handles, caplog):
    # the same input with only the tight (handle) blocks: nothing can train name or DOB
    tight_only = dataclasses.replace(CLEAR_MODEL, em_fallback_rules=())
    with caplog.at_level(logging.WARNING, logger="linkage"):
        summary = link(no_handles, u_max_pairs=2e5, charts=False, model=tight_only)
    said = [r.getMessage() for r in caplog.records if "keeps Splink's default m" in r.getMessage()]
    assert any("'first_name'" in m for m in said) and any("'dob'" in m for m in said)
    assert {"first_name", "dob"} <= set(summary.facts().untrained_comparisons)


def test_no_single_level_vetoes_a_pair(linked):
    # every trained level weighs at least -MAX_AGAINST_BITS against a match
    _, summary = linked
    weights = _weights(summary.model)
    assert weights and min(weights) >= -MAX_AGAINST_BITS - 0.01


def _weights(model: dict) -> list[float]:
    return [math.log2(lv["m_probability"] / lv["u_probability"])
            for c in model["comparisons"] for lv in c["comparison_levels"]
            if isinstance(lv.get("m_probability"), float)
            and isinstance(lv.get("u_probability"), float)]
