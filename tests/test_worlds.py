"""Mechanism knobs and shipped worlds: each knob changes what it says, on small data.

Every test generates a small study (scale 0.002-0.004, about 2,000 referrals) from
``default`` with one knob moved (a few TOML lines over ``base = "default"``) and checks
the generated files, where the truth is known.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest

from linkage.db import connect
from linkage.errors import ConfigError
from linkage.generation import available_scenarios, generate, load_scenario
from linkage.generation.scenario import describe_scenarios
from linkage.ingest import load_input
from linkage.resources import scenarios_dir

SCALE = 0.003
SEED = 5


def world(tmp_path: Path, toml: str, *, scale: float = SCALE, seed: int = SEED,
          name: str = "w") -> Path:
    """Generate the default world with ``toml`` over it; return the data folder."""
    path = tmp_path / f"{name}.toml"
    path.write_text(f'base = "default"\nname = "{name}"\n{toml}', encoding="utf-8")
    out = tmp_path / f"{name}_data"
    generate(load_scenario(path, scale=scale, seed=seed), out, referred_tips_only=True)
    return out


def q(data: Path, sql: str) -> tuple:
    """First row of ``sql`` where ``R/``, ``C/``, ``T/``, ``L/`` and ``X/`` name the files."""
    for key, file in (("R/", "referrals"), ("C/", "case_outcomes"), ("T/", "tips"),
                      ("L/", "truth/truth_links"), ("X/", "truth/truth_referrals")):
        sql = sql.replace(key, f"'{data / file}.parquet'")
    return duckdb.sql(sql).fetchall()[0]


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.parquet"))}


# --- repeat referrals ---------------------------------------------------------------------

REPEATS = "[people]\nreferrals_per_person_mean = 1.8\n"
MOST_REFERRALS_PER_CASE = "select max(n) from (select count(*) as n from L/ group by case_id)"
SAME_AGENCY_CASES = """
    select max(n) from (
        select count(distinct x.case_id) as n from X/ as x join R/ as r using (referral_id)
        where x.investigated group by x.person_id, r.agency_id)"""


def test_repeat_referrals_join_the_case_by_default(tmp_path: Path) -> None:
    data = world(tmp_path, REPEATS)
    assert q(data, MOST_REFERRALS_PER_CASE)[0] > 1  # repeat referrals share a case
    assert q(data, SAME_AGENCY_CASES)[0] == 1  # one case per suspect and agency


def test_declined_repeat_referrals_never_join_a_case(tmp_path: Path) -> None:
    data = world(tmp_path, REPEATS + "[repeat_referrals]\njoin = 0.0\ndecline = 1.0\n")
    assert q(data, MOST_REFERRALS_PER_CASE)[0] == 1
    # the later referrals exist, and none of them was investigated
    later = q(data, """
        select count(*), count(*) filter (where x.investigated) from (
            select x.*, row_number() over (partition by x.person_id, r.agency_id
                                            order by r.referred_at) as k
            from X/ as x join R/ as r using (referral_id)) as x where k > 1""")
    assert later[0] > 100 and later[1] == 0


def test_new_case_repeat_referrals_open_their_own_cases(tmp_path: Path) -> None:
    data = world(tmp_path, REPEATS + "[repeat_referrals]\njoin = 0.0\nnew_case = 1.0\n")
    assert q(data, MOST_REFERRALS_PER_CASE)[0] == 1
    assert q(data, SAME_AGENCY_CASES)[0] > 1  # a suspect with two cases at one agency


# --- the audit (cybertip_ref recording) ---------------------------------------------------

AUDIT_BASE = "[volume]\ncybertip_ref_share = 0.4\n"


def test_recording_only_on_arrests(tmp_path: Path) -> None:
    data = world(tmp_path, AUDIT_BASE + "[audit]\nnot_arrested_odds = 0.0\n")
    audit, arrested = q(data, "select count(*), count(arrested_at) from C/ "
                              "where cybertip_ref is not null")
    assert audit > 10 and audit == arrested


def test_recording_rises_on_arrests(tmp_path: Path) -> None:
    sql = ("select avg((arrested_at is not null)::int) from C/ as c join L/ as l using (case_id)"
           " where cybertip_ref is not null")
    base = AUDIT_BASE + "[conversion]\narrest = 4.0\n"  # arrests common enough to count
    even = q(world(tmp_path, base, name="even"), sql)[0]
    tilted = q(world(tmp_path, base + "[audit]\narrested_odds = 10.0\n", name="tilt"), sql)[0]
    assert tilted > even + 0.1  # about 0.18 -> 0.33


def test_recording_depends_on_identifier_completeness(tmp_path: Path) -> None:
    ids = ("(r.email is not null)::int + (r.username is not null)::int + "
           "(r.phone is not null)::int + (r.ip is not null)::int")
    sql = (f"select avg({ids}) filter (where c.cybertip_ref is not null) - avg({ids}) "
           "from L/ as l join R/ as r using (referral_id) join C/ as c using (case_id)")
    flat = q(world(tmp_path, AUDIT_BASE, name="flat"), sql)[0]
    many = q(world(tmp_path, AUDIT_BASE + "[audit]\nidentifier_odds = 4.0\n", name="many"),
             sql)[0]
    assert abs(flat) < 0.12 and many > 0.2  # audit cases' referrals carry more identifiers


def test_agency_shape_concentrates_recording(tmp_path: Path) -> None:
    # share of agencies (with >= 5 referral cases) that record none or all of them
    sql = """
        select avg((share = 0 or share = 1)::int) from (
            select avg((cybertip_ref is not null)::int) as share, count(*) as n
            from C/ where case_id in (select case_id from L/) group by agency_id)
        where n >= 5"""
    even = q(world(tmp_path, AUDIT_BASE + "[audit]\nagency_shape = 50.0\n", name="even"),
             sql)[0]
    uneven = q(world(tmp_path, AUDIT_BASE + "[audit]\nagency_shape = 0.05\n", name="few"),
               sql)[0]
    assert uneven > even + 0.3


# --- identifier families, drift, conversion, lags, namesakes ------------------------------

def test_switched_off_families_are_empty_everywhere(tmp_path: Path) -> None:
    off = "\n".join(f"{f} = false" for f in ("email", "username", "phone", "name", "dob"))
    data = world(tmp_path, f"[identifiers.referral]\n{off}\n[identifiers.case]\n{off}\n"
                           "address = false\n")
    referrals = q(data, "select count(*), count(email), count(username), count(phone), "
                        "count(first_name), count(last_name), count(dob), count(ip) from R/")
    assert referrals[0] > 1000 and referrals[1:7] == (0,) * 6 and referrals[7] > 0
    tips = q(data, "select count(suspect_email), count(suspect_username), "
                   "count(suspect_phone), count(suspect_first_name), count(suspect_dob) from T/")
    assert tips == (0,) * 5
    cases = q(data, "select count(*), count(email), count(username), count(phone), "
                    "count(first_name), count(dob), count(city), count(zip) from C/")
    assert cases[0] > 100 and cases[1:] == (0,) * 7


def test_no_email_family_empties_the_email_columns_only(tmp_path: Path) -> None:
    data = world(tmp_path, "[identifiers.referral]\nemail = false\n"
                           "[identifiers.case]\nemail = false\n")
    assert q(data, "select count(email), count(phone) > 0 from R/") == (0, True)
    assert q(data, "select count(email), count(phone) > 0 from C/") == (0, True)
    assert q(data, "select count(suspect_email) from T/") == (0,)


def test_drift_step_removes_email_from_the_second_half(tmp_path: Path) -> None:
    data = world(tmp_path, "[drift]\nemail = 0.0\nstep = true\n")
    first, second = q(data, """
        select count(suspect_email) filter (where received_at < timestamp '2024-07-01 12:00'),
               count(suspect_email) filter (where received_at >= timestamp '2024-07-02')
        from T/""")
    assert first > 300 and second == 0


def test_conversion_odds_raise_the_true_rates(tmp_path: Path) -> None:
    sql = "select avg(investigated::int), avg((arrested_at is not null)::int) from X/"
    base = q(world(tmp_path, "", name="base"), sql)
    up = q(world(tmp_path, "[conversion]\ninvestigate = 3.0\narrest = 3.0\n", name="up"), sql)
    sc = load_scenario("default")
    expected = sum(o.share * 3 * o.investigate / (1 + 2 * o.investigate) for o in sc.offense)
    assert up[0] == pytest.approx(expected, abs=0.03)
    assert up[0] > base[0] + 0.1 and up[1] > 2 * base[1]


def test_long_conviction_lags(tmp_path: Path) -> None:
    data = world(tmp_path, "[conversion]\narrest = 5.0\n[lags]\n"
                           "charge_to_conviction = { median = 450.0, p90 = 900.0 }\n")
    median = q(data, "select median(convicted_at - charged_at) from X/ "
                     "where convicted_at is not null")[0]
    assert 380 <= median <= 520


def test_namesakes_share_a_suspect_name(tmp_path: Path) -> None:
    sql = """
        with suspects as (select distinct first_name, last_name from R/
                          where first_name is not null),
        other as (select * from C/ where investigated
                  and case_id not in (select case_id from L/) and first_name is not null)
        select avg((s.first_name is not null)::int) from other as o
        left join suspects as s using (first_name, last_name)"""
    none = q(world(tmp_path, "", name="none"), sql)[0]
    many = q(world(tmp_path, "[people]\nnamesake_share = 0.6\n", name="many"), sql)[0]
    assert many > none + 0.2


# --- shipped worlds -----------------------------------------------------------------------

def test_every_shipped_world_is_described_and_short() -> None:
    listed = dict(describe_scenarios())
    worlds = [n for n in listed if n != "default"]
    assert len(worlds) >= 9 and {"default", "hard_noise"} <= set(listed)
    for name in worlds:
        lines = [ln for ln in (scenarios_dir() / f"{name}.toml").read_text().splitlines()
                 if ln.strip() and not ln.lstrip().startswith("#")]
        assert lines[0] == 'base = "default"' and len(lines) <= 25, name
        assert listed[name] and listed[name] != listed["default"], name


@pytest.mark.parametrize("name", available_scenarios())
def test_every_shipped_world_generates_and_passes_the_contract(tmp_path: Path,
                                                               name: str) -> None:
    summary = generate(load_scenario(name, scale=0.002, seed=3), tmp_path / "data")
    assert summary.counts["referrals"] > 500 and summary.counts["truth_links"] > 50
    con = connect()
    load_input(tmp_path / "data", con)  # raises on any contract violation
    assert con.sql("select count(*) from raw_referrals").fetchall()[0][0] > 500


def test_same_seed_same_files_and_referred_tips_only_changes_tips_only(tmp_path: Path) -> None:
    sc = load_scenario("repeat_referrals", scale=0.002, seed=8)
    generate(sc, tmp_path / "a")
    generate(sc, tmp_path / "b")
    generate(sc, tmp_path / "c", referred_tips_only=True)
    a, c = digests(tmp_path / "a"), digests(tmp_path / "c")
    assert a == digests(tmp_path / "b")
    assert {k: v for k, v in a.items() if k != "tips.parquet"} == {
        k: v for k, v in c.items() if k != "tips.parquet"}
    n_all, n_referred = (q(tmp_path / d, "select count(*) from T/")[0] for d in ("a", "c"))
    assert q(tmp_path / "c", "select count(*) from R/")[0] >= n_referred and n_referred < n_all


# --- the new sections are checked like the others ----------------------------------------

def test_mechanism_knobs_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('base = "default"\n[repeat_referrals]\njoin = 0.5\ndecline = 0.2\n'
                    "[audit]\narrested_odds = -1.0\nagency_shape = 0.0\nwhat = 1\n"
                    "[conversion]\narrest = 0.0\n[drift]\nemail = -0.5\n"
                    '[identifiers.case]\nemail = "no"\n')
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert "audit.what: unknown key (allowed: agency_shape" in msg
    assert "identifiers.case.email: expected bool, got 'no'" in msg
    path.write_text(path.read_text().replace("what = 1\n", "").replace('"no"', "false"))
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert "5 problem(s)" in msg
    assert "repeat_referrals: join + decline + new_case must sum to 1, got 0.700000" in msg
    assert "audit.arrested_odds: an odds ratio must be finite and >= 0, got -1.0" in msg
    assert "audit.agency_shape: 0.0 must be a finite number > 0" in msg
    assert "conversion.arrest: an odds ratio must be finite and > 0, got 0.0" in msg
    assert "drift.email: a completeness factor must be finite and >= 0, got -0.5" in msg


def test_description_is_not_inherited_and_old_files_still_load(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text('base = "default"\nname = "w"\n')
    assert load_scenario(path).description == ""
    # a full scenario file from before the mechanism sections: today's behaviour
    old = "\n".join(ln for ln in (scenarios_dir() / "default.toml").read_text().splitlines())
    cut = old.index("# --- Mechanisms.")
    end = old.index("[targets]")
    (tmp_path / "old.toml").write_text(old[:cut] + old[end:])
    assert load_scenario(tmp_path / "old.toml") == load_scenario("default")
