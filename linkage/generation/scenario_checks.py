"""Domain checks of a scenario that types alone cannot express (ranges, sums, orders).

``check`` returns every problem found, each naming the dotted key, the bad value and what
is allowed; ``load_scenario`` raises them together.

Example:
    >>> from linkage.generation.scenario import load_scenario
    >>> check(load_scenario("default"))
    []
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

Scenario = Any  # linkage.generation.scenario.Scenario (which imports this module)

_UNIT = "a probability in [0, 1]"


def check(sc: Scenario) -> list[str]:
    """Domain checks that types alone cannot express."""
    errs: list[str] = []

    def unit(path: str, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            errs.append(f"{path}: {value!r} is not {_UNIT}")

    if not 0 < sc.scale <= 10:
        errs.append(f"scale: {sc.scale!r} must be in (0, 10]")
    if sc.seed < 0:
        errs.append(f"seed: {sc.seed!r} must be a non-negative integer")
    st = sc.study
    if not st.window_start <= st.window_end <= st.end_date:
        errs.append("study: need window_start <= window_end <= end_date")
    for section in ("volume", "people", "reporters", "enrichment", "case_record", "other_cases",
                    "modifiers"):
        obj = getattr(sc, section)
        for f in dataclasses.fields(obj):
            if f.name.endswith(("share", "_share")) or section in (
                "enrichment", "case_record") or f.name in ("arrest", "charge", "convict"):
                unit(f"{section}.{f.name}", getattr(obj, f.name))
    for kind in ("large", "small", "public"):
        comp = getattr(sc.completeness, kind)
        for f in dataclasses.fields(comp):
            unit(f"completeness.{kind}.{f.name}", getattr(comp, f.name))
    for side in ("referral", "case"):
        corr = getattr(sc.corruption, side)
        for f in dataclasses.fields(corr):
            unit(f"corruption.{side}.{f.name}", getattr(corr, f.name))
    if sc.corruption.noise < 0:
        errs.append(f"corruption.noise: {sc.corruption.noise!r} must be >= 0")
    for name in ("urgent_investigate", "no_contact_investigate", "viral_investigate",
                 "urgent_arrest", "abroad_arrest"):
        if getattr(sc.modifiers, name) <= 0:
            errs.append(f"modifiers.{name}: an odds ratio must be > 0")
    for f in dataclasses.fields(sc.lags):
        lag = getattr(sc.lags, f.name)
        if not 0 < lag.median < lag.p90:
            errs.append(f"lags.{f.name}: need 0 < median < p90, got {lag.median}, {lag.p90}")
    if not sc.offense:
        errs.append("offense: at least one [[offense]] is required")
    names = [o.name for o in sc.offense]
    if len(set(names)) != len(names):
        errs.append(f"offense: names must be unique, got {names}")
    for i, off in enumerate(sc.offense):
        for f in dataclasses.fields(off):
            if f.name not in ("name", "incident_type", "charge_label"):
                unit(f"offense[{i}] ({off.name}).{f.name}", getattr(off, f.name))
    for key in ("share", "tip_share"):
        total = sum(getattr(o, key) for o in sc.offense)
        if abs(total - 1.0) > 1e-6:
            errs.append(f"offense.{key}: must sum to 1 over offense types, got {total:.6f}")
    if sc.reporters.n_esp < sc.reporters.large_n or sc.reporters.large_n < 0:
        errs.append("reporters: need 0 <= large_n <= n_esp")
    if any(c.weight < 0 for c in sc.country) or not sc.country:
        errs.append("country: need at least one [[country]] with non-negative weights")
    if not sc.email_domains or any(w <= 0 for _, w in sc.email_domains):
        errs.append("email_domains: need [domain, weight > 0] pairs")
    if sc.people.referrals_per_person_mean < 1:
        errs.append("people.referrals_per_person_mean: must be >= 1")
    errs.extend(_check_mechanisms(sc))
    return errs


def _check_mechanisms(sc: Scenario) -> list[str]:
    """The mechanism sections: repeat referrals, audit, conversion odds and drift."""
    errs: list[str] = []
    rep = sc.repeat_referrals
    shares = {"join": rep.join, "decline": rep.decline, "new_case": rep.new_case}
    for key, value in shares.items():
        if not 0.0 <= value <= 1.0:
            errs.append(f"repeat_referrals.{key}: {value!r} is not {_UNIT}")
    if abs(sum(shares.values()) - 1.0) > 1e-6:
        errs.append(f"repeat_referrals: join + decline + new_case must sum to 1, got "
                    f"{sum(shares.values()):.6f}")
    au = sc.audit
    if not au.agency_shape > 0 or math.isinf(au.agency_shape):
        errs.append(f"audit.agency_shape: {au.agency_shape!r} must be a finite number > 0")
    for key in ("arrested_odds", "not_arrested_odds", "identifier_odds"):
        value = getattr(au, key)
        if not 0.0 <= value < math.inf:
            errs.append(f"audit.{key}: an odds ratio must be finite and >= 0, got {value!r}")
    if au.arrested_odds == 0 and au.not_arrested_odds == 0:
        errs.append("audit: arrested_odds and not_arrested_odds cannot both be 0 "
                    "(no case would record a tip number)")
    if au.identifier_odds == 0:
        errs.append("audit.identifier_odds: must be > 0 (an odds ratio per identifier)")
    for f in dataclasses.fields(sc.conversion):
        value = getattr(sc.conversion, f.name)
        if not 0.0 < value < math.inf:
            errs.append(f"conversion.{f.name}: an odds ratio must be finite and > 0, "
                        f"got {value!r}")
    for f in dataclasses.fields(sc.drift):
        value = getattr(sc.drift, f.name)
        if f.name != "step" and not 0.0 <= value < math.inf:
            errs.append(f"drift.{f.name}: a completeness factor must be finite and >= 0, "
                        f"got {value!r}")
    return errs
