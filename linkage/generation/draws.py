"""Vectorised random draws for the synthetic generator (numpy only, no per-row Python).

Everything random in the generator is drawn here from a seeded ``numpy.random.Generator``;
``generate.py`` hands the arrays to DuckDB, whose SQL (``sql/generate/``) turns the codes
into strings. Keeping the randomness in one place is what makes a seed reproduce the files.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np

from linkage.generation.scenario import Completeness, Lag, Scenario, SideCorruption
from linkage.resources import package_data

HANDLE_WORDS = (
    "dark shadow silent wolf night star blue fire ice storm ghost angel lucky happy crazy "
    "cool king queen sweet wild red black gold silver iron stone river lake moon sun sky "
    "cloud rain snow tiger lion bear eagle hawk fox dragon ninja pixel gamer rebel joker "
    "hunter rider driver skater surfer lonely sunny misty frosty rocky sandy dusty stormy "
    "magic mystic"
).split()

EPOCH = np.datetime64("1970-01-01", "D")
_Z90 = 1.2815515655446004  # standard normal 90th percentile


@dataclass(frozen=True)
class Lookups:
    """Name, place and agency tables the draws index into (also registered in DuckDB)."""

    first_names: list[str]
    first_sex: np.ndarray  # 1 = male
    first_weight: np.ndarray
    nickname_of: list[str | None]  # one nickname per first name, where it has one
    surnames: list[str]
    surname_weight: np.ndarray
    place_state: list[str]
    place_city: list[str]
    place_zip: list[str]
    place_weight: np.ndarray
    states: list[str]
    place_state_idx: np.ndarray


def _read_csv(name: str) -> list[dict[str, str]]:
    with package_data(name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def load_lookups() -> Lookups:
    """Read the name and place lists shipped in ``linkage/data``."""
    first = _read_csv("first_names.csv")
    nick: dict[str, str] = {}
    for row in _read_csv("gen_nicknames.csv"):
        nick.setdefault(row["name"], row["nickname"])  # first listed = most common form
    sur = _read_csv("surnames.csv")
    places = _read_csv("places.csv")
    states = sorted({p["state"] for p in places})
    sidx = {s: i for i, s in enumerate(states)}
    return Lookups(
        first_names=[r["name"] for r in first],
        first_sex=np.array([r["sex"] == "M" for r in first], dtype=np.int8),
        first_weight=np.array([float(r["weight"]) for r in first]),
        nickname_of=[nick.get(r["name"]) for r in first],
        surnames=[r["name"] for r in sur],
        surname_weight=np.array([float(r["weight"]) for r in sur]),
        place_state=[p["state"] for p in places],
        place_city=[p["city"] for p in places],
        place_zip=[p["zip"] for p in places],
        place_weight=np.array([float(p["weight"]) for p in places]),
        states=states,
        place_state_idx=np.array([sidx[p["state"]] for p in places], dtype=np.int32),
    )


def choice(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    """Weighted draw of indices (inverse CDF; much faster than ``rng.choice`` with p=)."""
    cdf = np.cumsum(weights, dtype=float)
    cdf /= cdf[-1]
    return np.searchsorted(cdf, rng.random(size), side="right").astype(np.int32)


def lognormal_days(rng: np.random.Generator, lag: Lag, size: int) -> np.ndarray:
    """Lag in (fractional) days with the given median and 90th percentile."""
    sigma = np.log(lag.p90 / lag.median) / _Z90
    return lag.median * np.exp(sigma * rng.standard_normal(size))


def calibrate(
    offset: np.ndarray, group: np.ndarray, targets: np.ndarray, iters: int = 60
) -> np.ndarray:
    """Per-record probabilities ``sigmoid(a[group] + offset)`` whose mean in each group equals
    ``targets[group]``: modifiers move risk between records, never the calibrated rate."""
    out = np.zeros(len(offset))
    for g in np.unique(group):
        sel = group == g
        target = float(np.clip(targets[g], 1e-9, 1 - 1e-9))
        lo, hi = -40.0, 40.0
        x = offset[sel]
        for _ in range(iters):
            mid = (lo + hi) / 2
            if (1 / (1 + np.exp(-(mid + x)))).mean() < target:
                lo = mid
            else:
                hi = mid
        out[sel] = 1 / (1 + np.exp(-((lo + hi) / 2 + x)))
    return out


def calibrate_cases(
    case_offset: np.ndarray,
    case_group: np.ndarray,
    ref_case: np.ndarray,
    ref_group: np.ndarray,
    targets: np.ndarray,
    iters: int = 200,
) -> np.ndarray:
    """Case-level probabilities ``sigmoid(a[case_group] + case_offset)`` such that the mean
    over referrals (each sharing its case's fate) in each referral group equals
    ``targets[group]``. Solved by fixed-point iteration on the intercepts ``a``; with one
    referral per case it reduces to ``calibrate``."""
    t = np.clip(targets, 1e-9, 1 - 1e-9)
    logit_t = np.log(t / (1 - t))
    a = logit_t.copy()
    n_ref = np.bincount(ref_group, minlength=len(t))
    has = n_ref > 0
    p = np.zeros(len(case_offset))
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(a[case_group] + case_offset)))
        mean = np.bincount(ref_group, weights=p[ref_case], minlength=len(t))[has] / n_ref[has]
        mean = np.clip(mean, 1e-12, 1 - 1e-12)
        step = logit_t[has] - np.log(mean / (1 - mean))
        a[has] += step
        if np.abs(step).max() < 1e-9:
            break
    return p


def noisy(p: float, noise: float) -> float:
    """A corruption probability scaled by the scenario's noise multiplier, capped at 1."""
    return min(1.0, p * noise)


def present(completeness: float, noise: float) -> float:
    """Share present after scaling the missing share (1 - completeness) by the noise."""
    return 1.0 - min(1.0, (1.0 - completeness) * noise)


def draw_people(
    rng: np.random.Generator, lk: Lookups, sc: Scenario, n: int
) -> dict[str, np.ndarray]:
    """Draw ``n`` people: legal identity, contact details, online identity and address."""
    male = rng.random(n) < 0.9  # reported suspects are overwhelmingly male
    first = np.empty(n, dtype=np.int32)
    for sex, sel in ((1, male), (0, ~male)):
        pool = np.flatnonzero(lk.first_sex == sex)
        first[sel] = pool[choice(rng, lk.first_weight[pool], int(sel.sum()))]
    age = np.clip(rng.normal(sc.people.mean_age, sc.people.sd_age, n), sc.people.min_age, 80)
    ref_day = (np.datetime64(sc.study.window_start, "D") - EPOCH).astype(int)
    dob = (ref_day - age * 365.25 - rng.integers(0, 365, n)).astype(np.int32)
    area = rng.integers(201, 990, n)
    area = np.where(area % 100 == 11, area + 1, area)  # no N11 service codes
    phone = area * 10_000_000 + rng.integers(2_000_000, 10_000_000, n)
    return {
        "first_idx": first,
        "last_idx": choice(rng, lk.surname_weight, n),
        "dob_day": dob,
        "place_idx": choice(rng, lk.place_weight, n),
        "phone": phone.astype(np.int64),
        "email_pattern": rng.integers(0, 5, n, dtype=np.int8),
        "email_num": rng.integers(1, 9999, n, dtype=np.int32),
        "email_domain": choice(rng, np.array([w for _, w in sc.email_domains]), n),
        "email2_pattern": rng.integers(0, 5, n, dtype=np.int8),
        "email2_num": rng.integers(1, 9999, n, dtype=np.int32),
        "email2_domain": choice(rng, np.array([w for _, w in sc.email_domains]), n),
        "user_pattern": rng.integers(0, 4, n, dtype=np.int8),
        "user_num": rng.integers(1, 999, n, dtype=np.int32),
        "handle_a": rng.integers(0, len(HANDLE_WORDS), n, dtype=np.int16),
        "handle_b": rng.integers(0, len(HANDLE_WORDS), n, dtype=np.int16),
        "ip": rng.integers(16_777_216, 3_758_096_383, n, dtype=np.int64),
    }


def make_relatives(
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    anchors: dict[str, np.ndarray],
    share: float,
) -> int:
    """Turn a share of ``people`` into relatives of random ``anchors`` (may be the same pool):
    same surname, address and phone (a household), other first name, DOB and accounts.
    Returns how many relatives were made."""
    n, n_anchor = len(people["first_idx"]), len(anchors["first_idx"])
    rel = np.flatnonzero(rng.random(n) < share)
    if len(rel) == 0 or n_anchor == 0:
        return 0
    anchor = rng.integers(0, n_anchor, len(rel))
    same_pool = people is anchors
    if same_pool:  # nobody is their own relative
        anchor = np.where(anchor == rel, (anchor + 1) % n_anchor, anchor)
    for key in ("last_idx", "place_idx", "phone"):
        people[key][rel] = anchors[key][anchor]
    return int(len(rel))


def completeness_masks(
    rng: np.random.Generator, comp: np.ndarray, noise: float
) -> dict[str, np.ndarray]:
    """Presence masks per identifier; ``comp`` is (n, 6) completeness in Completeness order."""
    n = comp.shape[0]
    miss = np.minimum(1.0, (1.0 - comp) * noise)
    draws = rng.random((n, comp.shape[1])) >= miss
    return {name: draws[:, i] for i, name in enumerate(COMPLETENESS_FIELDS)}


COMPLETENESS_FIELDS = ("email", "username", "phone", "ip", "name", "dob")


def completeness_row(c: Completeness) -> np.ndarray:
    """A Completeness as an array in ``COMPLETENESS_FIELDS`` order."""
    return np.array([getattr(c, f) for f in COMPLETENESS_FIELDS])


def name_codes(
    rng: np.random.Generator, cor: SideCorruption, noise: float, n: int, prefix: str
) -> dict[str, np.ndarray]:
    """Corruption codes for first and last names: typo op/position/letter, nickname, swap.

    op: 0 none, 1 substitute, 2 delete, 3 insert, 4 transpose (applied in SQL).
    """
    out: dict[str, np.ndarray] = {}
    for part in ("first", "last"):
        hit = rng.random(n) < noisy(cor.name_typo, noise)
        out[f"{prefix}{part}_op"] = np.where(hit, rng.integers(1, 5, n), 0).astype(np.int8)
        out[f"{prefix}{part}_pos"] = rng.random(n).astype(np.float32)
        out[f"{prefix}{part}_chr"] = rng.integers(0, 26, n, dtype=np.int8)
    out[f"{prefix}nickname"] = rng.random(n) < noisy(cor.nickname, noise)
    out[f"{prefix}swap"] = rng.random(n) < noisy(cor.first_last_swap, noise)
    return out


def corrupt_dob(
    rng: np.random.Generator, dob_day: np.ndarray, cor: SideCorruption, noise: float
) -> np.ndarray:
    """Day/month swaps (where the day could be a month) and one component off by one."""
    d = EPOCH + dob_day.astype("timedelta64[D]")
    y = d.astype("datetime64[Y]").astype(int) + 1970
    m = d.astype("datetime64[M]").astype(int) % 12 + 1
    day = (d - d.astype("datetime64[M]")).astype(int) + 1
    n = len(dob_day)
    swap = (rng.random(n) < noisy(cor.dob_day_month_swap, noise)) & (day <= 12) & (day != m)
    m, day = np.where(swap, day, m), np.where(swap, m, day)
    off = rng.random(n) < noisy(cor.dob_component_off, noise)
    which = rng.integers(0, 3, n)
    sign = np.where(rng.random(n) < 0.5, -1, 1)
    y = np.where(off & (which == 0), y + sign, y)
    m = np.where(off & (which == 1), (m - 1 + sign) % 12 + 1, m)
    day = np.where(off & (which == 2), np.clip(day + sign, 1, 28), day)
    day = np.minimum(day, 28 + (m != 2) * 2)  # keep the date valid (Feb <= 28, others <= 30)
    months = (y - 1970) * 12 + (m - 1)
    out = months.astype("datetime64[M]").astype("datetime64[D]") + (day - 1).astype(
        "timedelta64[D]")
    return (out - EPOCH).astype(np.int32)


def corrupt_phone(
    rng: np.random.Generator, phone: np.ndarray, cor: SideCorruption, noise: float
) -> tuple[np.ndarray, np.ndarray]:
    """One-digit keying errors in the last seven digits, and a display style code
    (0 digits, 1 ``(555) 123-4567``, 2 ``555-123-4567``, 3 ``+1 555.123.4567``,
    4 ``1-555-123-4567``)."""
    n = len(phone)
    err = rng.random(n) < noisy(cor.phone_digit_error, noise)
    power = 10 ** rng.integers(0, 7, n).astype(np.int64)
    digit = (phone // power) % 10
    new = (digit + rng.integers(1, 10, n)) % 10
    phone = np.where(err, phone + (new - digit) * power, phone)
    styled = rng.random(n) < noisy(cor.phone_formatted, noise)
    style = np.where(styled, rng.integers(1, 5, n), 0).astype(np.int8)
    return phone, style


def email_style(
    rng: np.random.Generator, cor: SideCorruption, noise: float, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Case style (0 lower, 1 capitalised, 2 upper) and stray-whitespace flags for e-mails."""
    cased = rng.random(n) < noisy(cor.email_case, noise)
    style = np.where(cased, rng.integers(1, 3, n), 0).astype(np.int8)
    return style, rng.random(n) < noisy(cor.email_whitespace, noise)
