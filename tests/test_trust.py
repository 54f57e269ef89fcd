"""How far to trust each number: the closest shipped world, and "not validated"."""

from __future__ import annotations

import math

import duckdb
import pandas as pd
import pytest

from linkage.reporting.trust import (
    FEATURES,
    closest_world,
    shipped_validation,
    study_features,
    trust_section,
)
from linkage.summaries import StudyManifest

WORLDS = pd.DataFrame({"world": ["thin", "rich"], "audit_share": [0.02, 0.10],
                       "contact_share": [0.3, 0.9], "dob_share": [0.5, 0.7],
                       "repeat_share": [0.02, 0.1], "follow_up_days": [400, 600],
                       "cases_per_referral": [0.2, 0.4]})


def _study(**kw) -> dict[str, float]:
    base = {"audit_share": 0.09, "contact_share": 0.85, "dob_share": 0.68,
            "repeat_share": 0.09, "follow_up_days": 560, "cases_per_referral": 0.38}
    return base | kw


def test_the_nearest_world_is_chosen_and_a_study_like_none_is_not_validated():
    near = closest_world(_study(), WORLDS)
    assert near.world == "rich" and near.validated and near.distance < 0.5
    thin = _study(audit_share=0.03, contact_share=0.35, dob_share=0.52, repeat_share=0.03,
                  follow_up_days=420, cases_per_referral=0.22)
    assert closest_world(thin, WORLDS).world == "thin"
    far = closest_world(_study(audit_share=0.5), WORLDS)  # 0.5 > 0.10 + 0.5 x 0.08
    assert not far.validated and far.outside == ("audit_share",)
    assert closest_world(_study(follow_up_days=2000), WORLDS).validated  # longer: easier
    assert not closest_world(_study(follow_up_days=200), WORLDS).validated
    unknown = closest_world({k: math.nan for k in FEATURES}, WORLDS)
    assert not unknown.validated and len(unknown.missing) == len(FEATURES)
    few = closest_world(_study(repeat_share=math.nan, follow_up_days=math.nan,
                               cases_per_referral=math.nan), WORLDS)
    assert not few.validated and not few.outside  # only 3 of 6 measured


def test_features_are_measured_without_truth_and_missing_tables_give_nan():
    con = duckdb.connect()
    assert all(math.isnan(v) for v in study_features(con).values())
    con.execute("""
        create table raw_referrals as select 'R' || i as referral_id,
            case when i % 2 = 0 then 'a@b.org' end as email, null as phone,
            null as username, case when i % 4 = 0 then date '1990-01-01' end as dob
        from range(8) t(i);
        create table raw_case_outcomes as select 'C' || i as case_id,
            case when i = 0 then 'T1' end as cybertip_ref from range(4) t(i);
    """)
    f = study_features(con)
    assert (f["contact_share"], f["dob_share"], f["audit_share"], f["cases_per_referral"]) \
        == (0.5, 0.25, 0.25, 0.5)
    assert math.isnan(f["repeat_share"]) and math.isnan(f["follow_up_days"])


def test_the_shipped_tables_cover_every_shipped_world_and_a_generated_study_reads_its_own():
    from linkage.generation.scenario import available_scenarios

    shipped = shipped_validation()
    assert shipped is not None
    cells, worlds = shipped
    assert set(worlds.world) == set(available_scenarios())
    assert set(cells.world) == set(worlds.world) and "calibrated" in set(cells.method)
    assert cells.coverage.between(0, 1).all() and (worlds.replicates >= 20).all()
    con = duckdb.connect()
    con.execute("""
        create table conversion_rates as select 'ALL' as offense_type, 'arrest' as stage,
            0.02 as estimate, 0.015 as ci_low, 0.025 as ci_high, false as suppressed,
            'calibrated' as method, 'cumulative' as rate_kind, true as is_primary
    """)
    manifest = StudyManifest(input="generated", scenario={"name": "long_lags"})
    sec = trust_section(con, manifest, "calibrated")
    text = " ".join(getattr(b, "text", "") for b in sec.blocks)
    assert "Closest shipped world: long_lags (this study was generated from it)" in text
    table = sec.blocks[-2]
    assert table.rows[0][:3] == ["ALL", "arrest", "2.00% [1.50, 2.50]"]
    assert table.rows[0][3] != "–"  # the world's measured bias
    user = trust_section(con, StudyManifest(input="extract/"), "calibrated")
    assert "Not validated for this kind of data" in " ".join(
        getattr(b, "text", "") for b in user.blocks)


@pytest.mark.parametrize("on_bound", [True, False])
def test_an_estimate_on_its_bound_is_explained(on_bound):
    from linkage.reporting.trust import _on_bound

    con = duckdb.connect()
    low = 0.02 if on_bound else 0.015
    con.execute(f"""create table conversion_rates as select 0.02 as estimate, {low} as ci_low,
        0.03 as ci_high, true as is_primary, false as suppressed""")
    text = _on_bound(con)
    assert ("sit on or next to a bound" in text) is on_bound
