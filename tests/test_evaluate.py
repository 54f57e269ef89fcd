"""Linkage metrics on a hand-made case with known TP / FP / FN."""

from __future__ import annotations

import duckdb
import pytest

from linkage.ingest.staging import build_staging
from linkage.linking.metrics import blocking_condition, evaluate
from linkage.linking.model import BLOCKING_RULES


@pytest.fixture()
def con():
    """Three referrals, four cases; truth R1-C1, R2-C2, R3-C3.

    links: R1-C1 (TP, p 0.9), R2-C9 (FP, p 0.8); R2-C2 and R3-C3 are missed (FN).
    R1/C1 share an e-mail (blocked); R3/C3 share nothing (not blocked).
    """
    con = duckdb.connect()
    con.execute(
        "create table raw_tips as select * from (values "
        "('T1', 'esp', 'BigApp'), ('T2', 'esp', 'BigApp'), ('T3', 'public', null)"
        ") as t(tip_id, reporter_type, reporter_name)"
    )
    con.execute(
        "create table raw_referrals as select * from (values "
        "('R1', 'T1', timestamp '2024-01-01', 'A1', 'csam', 'ann', 'lee', 'a@x.com', null),"
        "('R2', 'T2', timestamp '2024-01-01', 'A1', 'csam', null, null, null, '5550001111'),"
        "('R3', 'T3', timestamp '2024-01-01', 'A1', 'enticement', null, null, null, null)"
        ") as t(referral_id, tip_id, referred_at, agency_id, offense_type, first_name,"
        " last_name, email, phone)"
    )
    con.execute(
        "create table raw_case_outcomes as select * from (values "
        "('C1', 'A1', date '2024-01-20', 'ann', 'lee', 'a@x.com', null, 'T1'),"
        "('C2', 'A1', date '2024-01-20', 'bo', 'kim', null, '5550001111', null),"
        "('C3', 'A1', date '2024-01-20', 'cy', 'ray', null, null, null),"
        "('C9', 'A1', date '2024-01-20', 'di', 'fox', null, null, null)"
        ") as t(case_id, agency_id, opened_at, first_name, last_name, email, phone,"
        " cybertip_ref)"
    )
    for table in ("raw_referrals", "raw_case_outcomes"):
        for col in ("dob date", "username varchar", "city varchar", "state varchar", "zip varchar"):
            con.execute(f"alter table {table} add column {col}")
    for col in ("arrested_at", "charged_at", "convicted_at"):
        con.execute(f"alter table raw_case_outcomes add column {col} date")
    build_staging(con)
    con.execute(
        "create table truth_links as select * from (values ('R1', 'C1'), ('R2', 'C2'),"
        " ('R3', 'C3')) as t(referral_id, case_id)"
    )
    con.execute(
        "create table scored_pairs as select * from (values "
        "('R1', 'C1', 0.9, 3.2), ('R2', 'C9', 0.8, 2.0), ('R3', 'C3', 0.3, -1.2)"
        ") as t(referral_id, case_id, match_probability, match_weight)"
    )
    con.execute("create table links as select * from scored_pairs where match_probability >= 0.5")
    yield con
    con.close()


def test_headline_metrics(con):
    ev = evaluate(con)
    assert ev.n_true_pairs == 3
    assert (ev.splink.tp, ev.splink.fp, ev.splink.fn) == (1, 1, 2)
    assert ev.splink.precision == pytest.approx(0.5)
    assert ev.splink.recall == pytest.approx(1 / 3)
    assert ev.splink.f1 == pytest.approx(0.4)
    # R1-C1 (e-mail) and R2-C2 (phone) are blocked; R3-C3 is not
    assert ev.blocking_recall == pytest.approx(2 / 3)


def test_label_free_error_rates(con):
    ev = evaluate(con)
    # expected false links = (1 - 0.9) + (1 - 0.8) over 2 links
    assert ev.expected_false_link_rate == pytest.approx(0.15)
    assert ev.observed_false_link_rate == pytest.approx(0.5)
    # expected matches = 0.9 + 0.8 + 0.3 = 2.0; expected missed = 2.0 - 1.7
    assert ev.expected_missed_link_rate == pytest.approx(0.15)
    assert ev.observed_missed_link_rate == pytest.approx(2 / 3)


def test_baselines_and_strata(con):
    ev = evaluate(con)
    cyber = ev.baselines["cybertip_ref"]
    assert (cyber.tp, cyber.fp, cyber.fn) == (1, 0, 2)
    phone = ev.baselines["exact_phone"]
    assert (phone.tp, phone.fp, phone.fn) == (1, 0, 2)
    rows = con.sql(
        "select stratum, tp, fp, fn from link_metrics"
        " where method = 'splink' and dimension = 'reporter_name' order by stratum"
    ).fetchall()
    assert rows == [("(missing)", 0, 0, 1), ("BigApp", 1, 1, 1)]
    offense = dict(
        con.sql(
            "select stratum, recall from link_metrics"
            " where method = 'splink' and dimension = 'offense_type'"
        ).fetchall()
    )
    assert offense == {"csam": pytest.approx(0.5), "enticement": pytest.approx(0.0)}


def test_reliability_bins(con):
    evaluate(con)
    rows = con.sql(
        "select bin_low, n_pairs, n_true, observed_share_true from link_reliability"
        " where population = 'candidates' order by bin_low"
    ).fetchall()
    assert rows == [(0.3, 1, 1, 1.0), (0.8, 1, 0, 0.0), (0.9, 1, 1, 1.0)]


def test_blocking_sql_covers_every_rule():
    assert blocking_condition().count(" or ") == len(BLOCKING_RULES) - 1
