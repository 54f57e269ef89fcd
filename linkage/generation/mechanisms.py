"""The scenario's mechanism knobs as vectorised numpy steps of the generator.

Each function is the identity (same arrays, no random draw) when its knobs are at the
reference values of ``default.toml``, so the reference world's files stay byte-identical
for a seed; the draws they do need come from the generator's own ``rng_world`` stream,
never from the streams the reference world uses.

Example:
    >>> import numpy as np
    >>> odds_scaled(np.array([0.2, 0.5]), 3.0).round(3).tolist()
    [0.429, 0.75]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from linkage.generation.draws import COMPLETENESS_FIELDS
from linkage.generation.scenario import Audit, Drift, RepeatReferrals

JOIN, DECLINE, NEW_CASE = 0, 1, 2
"""Roles of a suspect's later referral to the agency of the first one."""


def odds_scaled(p: np.ndarray, odds: float) -> np.ndarray:
    """Probabilities ``p`` with their odds multiplied by ``odds`` (``p`` itself at 1).

    Example:
        >>> odds_scaled(np.array([0.3]), 1.0).tolist()
        [0.3]
    """
    if odds == 1.0:
        return p
    return p * odds / (1.0 - p + p * odds)


def drifted_completeness(comp: np.ndarray, when: np.ndarray, drift: Drift) -> np.ndarray:
    """Per-tip completeness (n, 6) moved by the drift factors at ``when`` (the share of the
    study window elapsed at each tip, 0 to 1); capped at complete.

    Example:
        >>> from linkage.generation.scenario import Drift
        >>> c = np.full((2, 6), 0.8)
        >>> drifted_completeness(c, np.array([0.0, 1.0]), Drift(email=0.5))[:, 0].tolist()
        [0.8, 0.4]
    """
    factors = np.array([getattr(drift, f) for f in COMPLETENESS_FIELDS])
    if (factors == 1.0).all():
        return comp
    frac = (when >= 0.5).astype(float) if drift.step else np.clip(when, 0.0, 1.0)
    scale = 1.0 + (factors[None, :] - 1.0) * frac[:, None]
    return np.clip(comp * scale, 0.0, 1.0)


def keep_families(masks: dict[str, np.ndarray], enabled: object) -> dict[str, np.ndarray]:
    """Presence masks with every family switched off in ``enabled`` (a families dataclass
    with one bool per mask name) emptied.

    Example:
        >>> from linkage.generation.scenario import ReferralFamilies
        >>> m = keep_families({"email": np.array([True])}, ReferralFamilies(email=False))
        >>> m["email"].tolist()
        [False]
    """
    return {k: (v if getattr(enabled, k, True) else np.zeros_like(v)) for k, v in masks.items()}


def repeat_roles(
    rng: np.random.Generator, key: np.ndarray, referred: np.ndarray, rep: RepeatReferrals
) -> np.ndarray | None:
    """Role of every referral within its (suspect, agency) ``key``: the earliest is the lead
    (``JOIN``); each later one joins, is declined or starts a new case with the scenario's
    shares. None when every later referral joins (the reference world: no draw).

    Example:
        >>> from linkage.generation.scenario import RepeatReferrals
        >>> rng = np.random.default_rng(0)
        >>> key, day = np.array([7, 7, 7, 3]), np.array([5, 1, 9, 2])
        >>> repeat_roles(rng, key, day, RepeatReferrals(0.0, 1.0, 0.0)).tolist()
        [1, 0, 1, 0]
    """
    if rep.join >= 1.0:
        return None
    order = np.lexsort((referred, key))
    first = np.r_[True, key[order][1:] != key[order][:-1]]
    later = np.zeros(len(key), dtype=bool)
    later[order[~first]] = True
    u = rng.random(len(key))
    roles = np.where(u < rep.join, JOIN, np.where(u < rep.join + rep.decline, DECLINE, NEW_CASE))
    return np.where(later, roles, JOIN).astype(np.int8)


def split_new_cases(key: np.ndarray, roles: np.ndarray | None) -> np.ndarray:
    """Group keys with each ``NEW_CASE`` referral given a key of its own.

    Example:
        >>> split_new_cases(np.array([4, 4, 4]), np.array([0, 2, 2])).tolist()
        [4, 5, 6]
    """
    if roles is None or not (roles == NEW_CASE).any():
        return key
    new = roles == NEW_CASE
    out = key.copy()
    out[new] = key.max() + 1 + np.arange(int(new.sum()))
    return out


def recording_probability(
    base: np.ndarray, arrested: np.ndarray, n_identifiers: np.ndarray, from_referral: np.ndarray,
    audit: Audit,
) -> np.ndarray:
    """Each case's chance of recording its lead referral's tip number: the agency's rate
    ``base`` with odds moved by the observed arrest and by the identifier families of the
    lead referral beyond their mean over referral cases. ``base`` itself at the reference
    odds (1, 1, 1).

    Example:
        >>> from linkage.generation.scenario import Audit
        >>> p = recording_probability(np.array([0.1, 0.1]), np.array([True, False]),
        ...     np.array([3, 3]), np.array([True, True]), Audit(not_arrested_odds=0.0))
        >>> p.tolist()
        [0.1, 0.0]
    """
    if (audit.arrested_odds, audit.not_arrested_odds, audit.identifier_odds) == (1, 1, 1):
        return base
    odds = np.where(arrested, audit.arrested_odds, audit.not_arrested_odds).astype(float)
    if audit.identifier_odds != 1.0 and from_referral.any():
        centre = n_identifiers[from_referral].mean()
        odds = odds * audit.identifier_odds ** (n_identifiers - centre)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = base * odds / (1.0 - base + base * odds)
    return np.nan_to_num(out, nan=0.0)


def make_namesakes(
    rng: np.random.Generator, people: dict[str, np.ndarray], anchors: dict[str, np.ndarray],
    share: float, home_of: Callable[[np.ndarray], np.ndarray],
) -> int:
    """Give a ``share`` of ``people`` the first name and surname of a random anchor and the
    home ``home_of(anchor indices)`` returns (a place in the anchor's state); the rest (DOB,
    contacts, accounts) stays their own. Returns how many were made.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> ppl = {"first_idx": np.array([1, 2]), "last_idx": np.array([1, 2]),
        ...        "place_idx": np.array([0, 0])}
        >>> anc = {"first_idx": np.array([9]), "last_idx": np.array([8]),
        ...        "place_idx": np.array([5])}
        >>> made = make_namesakes(rng, ppl, anc, 1.0, lambda a: anc["place_idx"][a] + 1)
        >>> made, ppl["last_idx"].tolist(), ppl["place_idx"].tolist()
        (2, [8, 8], [6, 6])
    """
    n, n_anchor = len(people["first_idx"]), len(anchors["first_idx"])
    if share <= 0 or n == 0 or n_anchor == 0:
        return 0
    sel = np.flatnonzero(rng.random(n) < share)
    anchor = rng.integers(0, n_anchor, len(sel))
    for k in ("first_idx", "last_idx"):
        people[k][sel] = anchors[k][anchor]
    people["place_idx"][sel] = home_of(anchor)
    return int(len(sel))
