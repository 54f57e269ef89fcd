"""The external benchmarks' contract mapping (benchmarks/external/): a small slice of FEBRL4
mapped onto the contract loads through ``load_input``, in every dates/agency variant, and the
scoring helpers count what they say. Skipped without the ``bench`` extra (recordlinkage)."""

from __future__ import annotations

import doctest
import sys
from pathlib import Path

import pytest

pytest.importorskip("recordlinkage")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "external"))
import _contract as ct  # noqa: E402 - benchmark helpers, beside their scripts
import _sources  # noqa: E402

import linkage  # noqa: E402

N_PAIRS = 40


@pytest.fixture(scope="module")
def febrl_slice() -> _sources.Source:
    return _sources.febrl4(limit=N_PAIRS)


@pytest.mark.parametrize("variant", ct.VARIANTS)
def test_febrl_slice_loads_through_the_contract(febrl_slice, variant, tmp_path):
    folder = ct.write_study(ct.to_contract(febrl_slice, variant, seed=3), tmp_path / variant)
    con = linkage.connect()
    summary = ct.load_study(folder, con)
    assert summary.row_counts == {"tips": N_PAIRS, "referrals": N_PAIRS,
                                  "case_outcomes": N_PAIRS}  # fmt: skip
    # every true pair joins a loaded referral to a loaded case
    joined = con.sql(
        "select count(*) from truth_links join raw_referrals using (referral_id)"
        " join raw_case_outcomes using (case_id)"
    ).fetchall()[0][0]
    assert joined == N_PAIRS
    # the identifiers arrived: names on (nearly) every record, parsed dates of birth
    named, dobs = con.sql(
        "select count(last_name), count(dob) from raw_referrals"
    ).fetchall()[0]
    assert named >= N_PAIRS - 2 and dobs >= N_PAIRS - 3
    gaps = con.sql(
        "select min(date_diff('day', cast(r.referred_at as date), c.opened_at)),"
        " max(date_diff('day', cast(r.referred_at as date), c.opened_at)),"
        " count(distinct c.agency_id)"
        " from truth_links join raw_referrals as r using (referral_id)"
        " join raw_case_outcomes as c using (case_id)"
    ).fetchall()[0]
    if variant == "planted":  # cases open after their referral; agency from the state
        assert gaps[0] >= 0 and gaps[2] > 1
    elif variant == "constant":
        assert gaps == (ct.CONSTANT_OPENED_DAYS, ct.CONSTANT_OPENED_DAYS, 1)
    else:  # random: dates independent of the truth, one agency
        assert gaps[0] < 0 < gaps[1] and gaps[2] == 1


def test_mapping_is_seeded_and_hides_the_pairing(febrl_slice):
    first = ct.to_contract(febrl_slice, "planted", seed=5)
    again = ct.to_contract(febrl_slice, "planted", seed=5)
    other = ct.to_contract(febrl_slice, "planted", seed=6)
    for name in first:
        assert first[name].equals(again[name])
    assert not first["referrals"]["referred_at"].equals(other["referrals"]["referred_at"])
    truth = first["truth_links"]
    same_number = (truth["referral_id"].str[1:] == truth["case_id"].str[1:]).mean()
    assert same_number < 0.2  # ids do not give the pairs away


def test_best_links_and_scores():
    con = linkage.connect()
    con.execute("create table truth_links as select * from (values ('R1', 'C1'), ('R2', 'C2'),"
                " ('R3', 'C3')) as t(referral_id, case_id)")  # fmt: skip
    pairs = con.sql(
        "select * from (values ('R1', 'C1', 0.9), ('R1', 'C9', 0.95), ('R2', 'C2', 0.6),"
        " ('R2', 'C3', 0.6), ('R3', 'C3', 0.4)) as t(referral_id, case_id, probability)"
    ).to_arrow_table()
    links = ct.best_links(con, pairs)
    # R1: best is C9 (wrong); R2: tie, smaller case id C2; R3: below 0.5, no link
    assert sorted(zip(*links.select(["referral_id", "case_id"]).to_pydict().values(),
                      strict=True)) == [("R1", "C9"), ("R2", "C2")]  # fmt: skip
    scores = ct.score(con, links)
    assert (scores.tp, scores.fp, scores.fn) == (1, 1, 2)
    assert scores.f1 == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    assert ct.pair_recall(con, pairs) == 1.0


def test_doctests_of_the_helpers():
    for module in (_sources, ct):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0
