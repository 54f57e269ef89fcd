"""The generator's referrals, case outcomes and truth.

Each function takes the running ``records.StudyGenerator`` (typed ``Any`` here so that
this module does not import the one that imports it), reads its draws and adds its own.

Outcomes follow the scenario's per-offense rates exactly in expectation: modifiers (urgency,
missing contact identifiers, viral items, offenders abroad) are odds ratios around an
intercept solved per offense type (``draws.calibrate``), so they move risk between referrals
without moving the calibrated rate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from linkage.generation import draws, mechanisms
from linkage.generation.arrow import build_from

DAY = 86_400
NONE = -1  # "stage not reached" in day arrays


def _rank(x: np.ndarray) -> np.ndarray:
    out = np.empty(len(x), dtype=np.int64)
    out[np.argsort(x, kind="stable")] = np.arange(1, len(x) + 1)
    return out


def _build(g: Any, view: str, cols: dict, nulls: dict, sql: str) -> None:
    build_from(g.con, view, cols, nulls, sql)


def draw_referrals(g: Any) -> None:
    """One referral per referred tip, plus second referrals of some tips to another agency."""
    sc, rng, noise, off = g.sc, g.rng_ref, g.noise, g.offense_arr
    mod, lags = sc.modifiers, sc.lags
    n_tip = g.n_ref_tips
    second = np.flatnonzero(rng.random(n_tip) < sc.volume.second_referral_share)
    tip = np.concatenate([np.arange(n_tip), second])
    n = len(tip)
    person, offense, urgent = g.person_of_tip[tip], g.incident[tip], g.urgent[tip]
    lag = np.where(urgent, draws.lognormal_days(rng, lags.tip_to_referral_urgent, n),
                   draws.lognormal_days(rng, lags.tip_to_referral, n))
    # the extract is taken on end_date: a referral the lag's long tail would date later is
    # made on that day (a few per million with the default lags)
    last = (np.datetime64(sc.study.end_date, "D").astype(np.int64) + 1) * DAY - 1
    referred = np.minimum(g.received[tip] + (lag * DAY).astype(np.int64), last)
    place = g.people["place_idx"][person]
    agency = g.place_tf[place]
    other_tf = rng.integers(0, g.n_task_forces - 1, n)
    other_tf += other_tf >= agency  # a different task force
    agency = np.where(np.arange(n) >= n_tip, other_tf, agency).astype(np.int32)
    m = g.ref_tip_masks
    has = {k: v[tip] for k, v in m.items()}
    no_contact = ~(has["ip"] | has["email"] | has["phone"])
    viral = rng.random(n) < mod.viral_share
    abroad = rng.random(n) < off["abroad_share"][offense]
    # Investigation is decided per suspect and agency in draw_cases; this is each referral's
    # contribution to that decision (odds ratios around the offense's calibrated rate).
    inv_offset = (np.log(mod.urgent_investigate) * urgent
                  + np.log(mod.no_contact_investigate) * no_contact
                  + np.log(mod.viral_investigate) * viral)
    cor = sc.corruption.referral
    codes = draws.name_codes(rng, cor, noise, n, "")
    del codes["nickname"], codes["swap"]
    enriched_dob = draws.corrupt_dob(rng, g.people["dob_day"][person], cor, noise)
    exact = rng.random(n) < sc.enrichment.geolocation_exact
    geo_place = np.where(exact, place, g._place_in_state(rng, g.lk.place_state_idx[place]))
    num = _rank(referred)
    fam = sc.identifiers.referral  # a family the referrals never carry: no enrichment either
    cols = {
        "referral_num": num, "tip_num": g.tip_num[tip], "referred_at": referred.astype(
            "datetime64[s]"), "agency_idx": agency, "offense_idx": offense,
        "priority": np.where(urgent, 1, np.where(no_contact, 3, 2)).astype(np.int8),
        "person_idx": person.astype(np.int64),
        "enrich_name": (rng.random(n) < sc.enrichment.name) & fam.name, **codes,
        "enrich_dob": (rng.random(n) < sc.enrichment.dob) & fam.dob,
        "enriched_dob": enriched_dob.astype(np.int64).astype("datetime64[D]"),
        "geo_found": rng.random(n) < sc.enrichment.geolocation, "geo_place_idx": geo_place,
    }
    _build(g, "referral_draws", cols, {}, "generate/gen_referrals.sql")
    g.ref = {"tip": tip, "person": person, "offense": offense, "urgent": urgent,
             "referred": referred, "agency": agency, "no_contact": no_contact, "viral": viral,
             "abroad": abroad, "inv_offset": inv_offset, "num": num,
             "has_email": has["email"], "has_username": has["username"],
             "n_identifiers": sum(v.astype(np.int64) for v in has.values())}


def _lag_days(rng: np.random.Generator, lag: draws.Lag, start: np.ndarray) -> np.ndarray:
    return start + np.ceil(draws.lognormal_days(rng, lag, len(start))).astype(np.int64)


def _stages(g: Any, opened: np.ndarray, arrested: np.ndarray,
            charged: np.ndarray, convicted: np.ndarray) -> dict[str, np.ndarray]:
    """Stage days (NONE where not reached), each after the previous one."""
    rng, lags = g.rng_case, g.sc.lags
    a = _lag_days(rng, lags.investigation_to_arrest, opened)
    c = _lag_days(rng, lags.arrest_to_charge, a)
    v = _lag_days(rng, lags.charge_to_conviction, c)
    return {"opened": opened, "arrest": np.where(arrested, a, NONE),
            "charge": np.where(charged, c, NONE), "convict": np.where(convicted, v, NONE)}


def draw_cases(g: Any) -> None:
    """Cases for investigated referrals (one per person and agency), logged declined
    referrals (investigated = false) and cases from other sources; censored at end_date.
    The steps below draw from ``g.rng_case`` in this order (a seed's files depend on it)."""
    r, n_oc = g.ref, g.n_other
    inv, case_of, lead = _investigations(g)
    n_rc, n_ref = len(lead), len(r["num"])
    lo, st_rc = _referral_case_stages(g, inv, case_of, lead)
    dl, st_dl = _declined_logged(g)
    st_oc = _other_source_stages(g)
    lead_ref = np.concatenate([lead, dl, np.full(n_oc, NONE)])
    person = np.concatenate([r["person"][lead], r["person"][dl], g.n_persons + np.arange(n_oc)])
    st = {k: np.concatenate([st_rc[k], st_dl[k], st_oc[k]]) for k in st_rc}
    subject = _case_subjects(g, lead_ref, person, np.concatenate([lo, r["offense"][dl]]))
    end = np.datetime64(g.sc.study.end_date, "D").astype(np.int64)
    keep = st["opened"] <= end
    case_num = np.full(len(person), NONE)
    case_num[keep] = g.rng_case.permutation(int(keep.sum())) + 1
    seen = {k: (v != NONE) & (v <= end) for k, v in st.items()}
    investigated = np.concatenate([np.ones(n_rc, bool), np.zeros(len(dl), bool),
                                   np.ones(n_oc, bool)])
    cols = _case_columns(g, subject, lead_ref, person, st, seen, case_num, investigated)
    nulls = {"arrested_at": ~seen["arrest"], "charged_at": ~seen["charge"],
             "convicted_at": ~seen["convict"], "charge_idx": ~seen["charge"],
             "lead_referral_num": lead_ref < 0}
    put_rows = np.flatnonzero(keep)
    cols = {k: v[put_rows] for k, v in cols.items()}
    nulls = {k: v[put_rows] for k, v in nulls.items()}
    _build(g, "case_draws", cols, nulls, "generate/gen_case_outcomes.sql")
    # Per referral: its case (index into the arrays above) and the case's true stages.
    case_of_ref = np.full(n_ref, NONE)
    case_of_ref[inv] = case_of
    case_of_ref[dl] = n_rc + np.arange(len(dl))
    g.cases = {"case_num": case_num, "stages": st, "case_of_ref": case_of_ref,
               "n_referral_cases": n_rc, "n_declined": len(dl), "n_other": n_oc}


def _investigations(g: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decide investigations; return the investigated referrals, the case of each and the
    lead referral of each case (in case order). Sets ``g.ref["investigated"]``."""
    sc, r = g.sc, g.ref
    # An agency investigates a suspect, not a referral: all referrals of one person to one
    # agency share one decision (and one case). Intercepts are solved so that each offense's
    # per-referral investigation rate still equals the scenario's.
    # Later referrals may instead be declined or open a case of their own (see
    # scenario.RepeatReferrals); the rates are then solved over the referrals that can join.
    key = r["person"].astype(np.int64) * len(g.agency_ids) + r["agency"]
    roles = mechanisms.repeat_roles(g.rng_world, key, r["referred"], sc.repeat_referrals)
    _, grp = np.unique(mechanisms.split_new_cases(key, roles), return_inverse=True)
    n_grp = int(grp.max()) + 1
    order = np.lexsort((r["referred"], grp))
    lead = order[np.r_[True, grp[order][1:] != grp[order][:-1]]]  # earliest, in group order
    able = slice(None) if roles is None else roles != mechanisms.DECLINE
    g_offset = np.full(n_grp, -np.inf)
    np.maximum.at(g_offset, grp[able], r["inv_offset"][able])
    p_inv = draws.calibrate_cases(g_offset, r["offense"][lead], grp[able], r["offense"][able],
                                  g.offense_arr["investigate"])
    g_inv = g.rng_case.random(n_grp) < p_inv
    r["investigated"] = g_inv[grp] if roles is None else g_inv[grp] & able
    inv = np.flatnonzero(r["investigated"])
    case_of_group = np.full(n_grp, NONE)
    case_of_group[g_inv] = np.arange(int(g_inv.sum()))
    return inv, case_of_group[grp[inv]], lead[g_inv]


def _referral_case_stages(g: Any, inv: np.ndarray, case_of: np.ndarray,
                          lead: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Opening and stages of the referral cases; returns each case's offense and stages."""
    sc, rng, off, r, mod = g.sc, g.rng_case, g.offense_arr, g.ref, g.sc.modifiers
    n_rc = len(lead)
    start = r["referred"][inv] + (draws.lognormal_days(
        rng, sc.lags.referral_to_investigation, len(inv)) * DAY).astype(np.int64)
    opened = np.full(n_rc, np.iinfo(np.int64).max)
    np.minimum.at(opened, case_of, start)
    lo = r["offense"][lead]
    offset = (np.log(mod.urgent_arrest) * r["urgent"][lead]
              + np.log(mod.abroad_arrest) * r["abroad"][lead])
    p_arrest = draws.calibrate_cases(offset, lo, case_of, r["offense"][inv], off["arrest"])
    arrested = rng.random(n_rc) < p_arrest
    charged = arrested & (rng.random(n_rc) < off["charge"][lo])
    convicted = charged & (rng.random(n_rc) < off["convict"][lo])
    return lo, _stages(g, opened // DAY, arrested, charged, convicted)


def _declined_logged(g: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Referrals not investigated but logged as a record (investigated = false)."""
    sc, rng, r = g.sc, g.rng_case, g.ref
    n_ref = len(r["num"])
    dl = np.flatnonzero(~r["investigated"] & (rng.random(n_ref) < sc.volume.declined_logged_share))
    dl_open = (r["referred"][dl] + (draws.lognormal_days(
        rng, sc.lags.referral_to_investigation, len(dl)) / 3 * DAY).astype(np.int64)) // DAY
    no = np.zeros(len(dl), dtype=bool)
    return dl, _stages(g, dl_open, no, no, no)


def _other_source_stages(g: Any) -> dict[str, np.ndarray]:
    """Opening and stages of the cases from other sources (they match no referral)."""
    sc, rng, n_oc, oc = g.sc, g.rng_case, g.n_other, g.sc.other_cases
    first_day = np.datetime64(sc.study.window_start, "D").astype(np.int64)
    end_day = np.datetime64(sc.study.end_date, "D").astype(np.int64)
    oc_open = rng.integers(first_day - oc.opened_before_window_days, end_day + 1, n_oc)
    oc_arr = rng.random(n_oc) < oc.arrest
    oc_chg = oc_arr & (rng.random(n_oc) < oc.charge)
    return _stages(g, oc_open, oc_arr, oc_chg, oc_chg & (rng.random(n_oc) < oc.convict))


def _case_subjects(g: Any, lead_ref: np.ndarray, person: np.ndarray,
                   ref_offense: np.ndarray) -> dict[str, np.ndarray]:
    """What each case record says about its subject before identifiers go missing: the
    recording agency, the charge, the place, the e-mail's source and corrupted values."""
    sc, rng, noise, off, r, cr = g.sc, g.rng_case, g.noise, g.offense_arr, g.ref, g.sc.case_record
    n, from_ref = len(person), lead_ref >= 0
    place = g.people["place_idx"][person]
    state = g.lk.place_state_idx[place]
    agency = np.where(from_ref, r["agency"][np.maximum(lead_ref, 0)], g.place_tf[place])
    affiliate = g.aff_start + state * sc.agencies.affiliates_per_state + rng.integers(
        0, sc.agencies.affiliates_per_state, n)
    agency = np.where(from_ref & (rng.random(n) < cr.other_agency_share), affiliate, agency)
    offense = np.concatenate([ref_offense, draws.choice(rng, off["share"], g.n_other)])
    mismatch = rng.random(n) < cr.charge_label_mismatch
    offense = np.where(mismatch, draws.choice(rng, off["share"], n), offense)
    moved = rng.random(n) < cr.moved
    place = np.where(moved, g._place_in_state(rng, state), place)
    had_email = from_ref & r["has_email"][np.maximum(lead_ref, 0)]
    email_source = np.where(had_email & (rng.random(n) < cr.email_from_referral), 1,
                            np.where(rng.random(n) < cr.email_otherwise, 2, 0)).astype(np.int8)
    if not sc.identifiers.case.email:
        email_source = np.zeros_like(email_source)
    cor = sc.corruption.case
    phone, phone_style = draws.corrupt_phone(rng, g.people["phone"][person], cor, noise)
    e_style, e_ws = draws.email_style(rng, cor, noise, n)
    codes = draws.name_codes(rng, cor, noise, n, "")
    codes["nickname_flag"] = codes.pop("nickname")
    dob = draws.corrupt_dob(rng, g.people["dob_day"][person], cor, noise)
    return {"agency": agency, "offense": offense, "place": place,
            "email_source": email_source, "phone": phone, "phone_style": phone_style,
            "email_style": e_style, "email_ws": e_ws, "codes": codes, "dob": dob}


def _case_columns(g: Any, subject: dict, lead_ref: np.ndarray, person: np.ndarray,
                  st: dict[str, np.ndarray], seen: dict[str, np.ndarray],
                  case_num: np.ndarray, investigated: np.ndarray) -> dict[str, np.ndarray]:
    """The draws of ``case_draws``: presence of each identifier and the tip-number audit."""
    sc, rng, noise, r, cr = g.sc, g.rng_case, g.noise, g.ref, g.sc.case_record
    fam, n, from_ref = sc.identifiers.case, len(person), lead_ref >= 0
    safe = np.maximum(lead_ref, 0)
    agency = subject["agency"]
    p_record = mechanisms.recording_probability(
        g.agency_records_tip[agency], seen["arrest"], r["n_identifiers"][safe], from_ref,
        sc.audit)
    return {
        "case_num": case_num, "agency_idx": agency.astype(np.int32),
        "opened_at": st["opened"].astype("datetime64[D]"),
        "person_idx": person.astype(np.int64), "first_idx": g.people["first_idx"][person],
        "has_name": (rng.random(n) < draws.present(cr.name, noise)) & fam.name,
        "has_dob": (rng.random(n) < draws.present(cr.dob, noise)) & fam.dob,
        "has_phone": (rng.random(n) < draws.present(cr.phone, noise)) & fam.phone,
        "has_address": (rng.random(n) < draws.present(cr.address, noise)) & fam.address,
        "place_idx": subject["place"], **subject["codes"],
        "dob": subject["dob"].astype(np.int64).astype("datetime64[D]"),
        "phone": subject["phone"], "phone_style": subject["phone_style"],
        "email_source": subject["email_source"], "email_style": subject["email_style"],
        "email_ws": subject["email_ws"],
        "username_from_referral": from_ref & r["has_username"][safe]
        & (rng.random(n) < cr.username_from_referral) & fam.username,
        "lead_referral_num": np.where(from_ref, r["num"][safe], NONE),
        "charge_idx": subject["offense"].astype(np.int32),
        "investigated": investigated,
        "arrested_at": st["arrest"].astype("datetime64[D]"),
        "charged_at": st["charge"].astype("datetime64[D]"),
        "convicted_at": st["convict"].astype("datetime64[D]"),
        "record_tip": from_ref & (rng.random(n) < p_record),
    }


def write_truth(g: Any) -> dict[str, int]:
    """Build ``truth_links`` and ``truth_referrals``; return true counts per referral."""
    r, c = g.ref, g.cases
    cof = c["case_of_ref"]
    has_case = cof != NONE
    case_num = np.where(has_case, c["case_num"][np.maximum(cof, 0)], NONE)
    linked = case_num != NONE
    inv = r["investigated"]
    day = {k: np.where(inv & has_case, v[np.maximum(cof, 0)], NONE)
           for k, v in c["stages"].items()}
    reached = {k: (v != NONE) for k, v in day.items()}
    _build(g, "truth_links_draws", {"referral_num": r["num"][linked],
                                    "case_num": case_num[linked]}, {},
           "generate/truth_links.sql")
    cols = {
        "referral_num": r["num"], "tip_num": g.tip_num[r["tip"]],
        "person_num": r["person"].astype(np.int64) + 1, "offense_idx": r["offense"],
        "is_urgent": r["urgent"], "viral": r["viral"], "offender_abroad": r["abroad"],
        "no_contact": r["no_contact"], "investigated": inv, "case_num": case_num,
        **{f"{k}_day": v.astype("datetime64[D]") for k, v in day.items()},
    }
    nulls = {"case_num": ~linked, **{f"{k}_day": ~reached[k] for k in day}}
    _build(g, "truth_referral_draws", cols, nulls, "generate/truth_referrals.sql")
    keep = c["case_num"] != NONE
    return {
        "tips": g.sc.n_tips, "us_tips": g.n_us, "referrals": len(r["num"]),
        "investigations": int(inv.sum()), "arrests": int(reached["arrest"].sum()),
        "charges": int(reached["charge"].sum()), "convictions": int(reached["convict"].sum()),
        "case_outcomes": int(keep.sum()), "truth_links": int(linked.sum()),
        "referral_cases": int(keep[: c["n_referral_cases"]].sum()),
        "declined_logged": c["n_declined"], "other_source_cases": int(
            keep[len(keep) - c["n_other"]:].sum()) if c["n_other"] else 0,
        "persons": g.n_persons, "relatives_in_other_cases": g.n_relatives,
        "namesakes_in_other_cases": g.n_namesakes,
    }
