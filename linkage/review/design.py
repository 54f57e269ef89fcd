"""The review sample's design: strata, allocation and the seeded draw.

Every referral falls in one stratum: its offense type x the band of its best candidate's
match probability (``none`` when it has no candidate). Within each stratum a simple random
sample is drawn without replacement, so every referral of stratum h has the known
inclusion probability n_h / N_h and the design-based estimators in
:mod:`linkage.review.estimates` are valid whatever the agencies record.

Allocation (where the reviews go), in two parts:

* across offense types in proportion to sqrt(N_offense) (power allocation): every
  offense type's rates need labels, and a proportional sample would leave the rare types
  with a handful;
* within an offense type in proportion to N_h x S_h (Neyman allocation), where S_h, the
  assumed standard deviation of "this referral's link is wrong", is sqrt(p(1 - p)) at the
  stratum's mean best probability p, floored at ``DEFAULT_SD_FLOOR``: the uncertain bands
  near the threshold, where links flip and rates move, get most of the reviews, and the
  confident and candidate-less bands still get some (the model may be wrong there too).

The probabilities only steer the allocation: a badly calibrated model makes the sample
less efficient, never the estimates biased. Every non-empty stratum gets at least
``min_per_stratum`` reviews (2: the within-stratum variance needs two) when the size allows.

Example:
    >>> allocate([100, 10, 1], [10.0, 1.0, 0.1], 20, minimum=1)
    [16, 3, 1]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

DEFAULT_BAND_EDGES: tuple[float, ...] = (0.1, 0.5, 0.9, 0.99)
"""Cut points of the match-probability bands: [0, 0.1), [0.1, 0.5), ..., [0.99, 1]."""

DEFAULT_SD_FLOOR = 0.1
"""Smallest assumed standard deviation of a stratum's link-error indicator: a confident
band still gets a tenth of the weight per referral of a maximally uncertain one (0.5)."""

DEFAULT_MIN_PER_STRATUM = 2


def allocate(sizes: Sequence[int], scores: Sequence[float], n: int, *,
             minimum: int = DEFAULT_MIN_PER_STRATUM) -> list[int]:
    """Integer sample sizes n_h <= N_h summing to min(n, sum N_h), proportional to
    ``scores`` after each stratum's ``minimum`` (largest remainders; capped strata pass
    their excess on). When ``n`` cannot give every stratum its minimum, the strata with
    the highest scores get theirs first.

    Example:
        >>> allocate([5, 5], [3.0, 1.0], 4, minimum=0)
        [3, 1]
        >>> allocate([5, 5], [3.0, 1.0], 100)
        [5, 5]
        >>> allocate([3, 100, 100], [50.0, 1.0, 1.0], 20)  # capped at N_h = 3
        [3, 9, 8]
    """
    caps = np.asarray(sizes, dtype=np.int64)
    weights = np.asarray(scores, dtype=float)
    n = int(min(n, caps.sum()))
    out = np.zeros(len(caps), dtype=np.int64)
    floor = np.minimum(caps, minimum)
    if floor.sum() > n:  # not enough for every minimum: the highest scores first
        order = np.lexsort((np.arange(len(caps)), -weights))
        for i in order:
            take = min(floor[i], n - out.sum())
            out[i] = take
        return out.tolist()
    out += floor
    while out.sum() < n:
        room = caps - out
        open_ = room > 0
        w = np.where(open_, weights, 0.0)
        if w.sum() <= 0:
            w = open_.astype(float)
        left = n - out.sum()
        share = np.minimum(w / w.sum() * left, room)
        whole = np.floor(share).astype(np.int64)
        rest = left - whole.sum()
        if rest > 0:  # largest remainders, ties by stratum order; only strata with room
            frac = np.where(room - whole > 0, share - whole, -1.0)
            order = np.lexsort((np.arange(len(caps)), -frac))[:rest]
            whole[order[frac[order] >= 0]] += 1
        if whole.sum() == 0:
            break
        out += whole
    return out.tolist()


def stratum_scores(offenses: Sequence[str], sizes: Sequence[int],
                   mean_probabilities: Sequence[float], *,
                   sd_floor: float = DEFAULT_SD_FLOOR) -> list[float]:
    """Allocation score of each stratum: sqrt(N_offense) x N_h S_h / sum over the offense
    type's strata of N_h S_h (so offense types share the sample as sqrt(N_offense) and
    strata within one as N_h S_h).

    Example:
        >>> [round(s, 3) for s in stratum_scores(["a", "a", "b"], [90, 10, 4],
        ...                                      [0.5, 0.99, 0.5])]
        [9.783, 0.217, 2.0]
    """
    n_h = np.asarray(sizes, dtype=float)
    p = np.clip(np.asarray(mean_probabilities, dtype=float), 0.0, 1.0)
    s_h = np.maximum(np.sqrt(p * (1 - p)), sd_floor)
    keys = list(offenses)
    total_n: dict[str, float] = {}
    total_ns: dict[str, float] = {}
    for key, n, s in zip(keys, n_h, s_h, strict=True):
        total_n[key] = total_n.get(key, 0.0) + n
        total_ns[key] = total_ns.get(key, 0.0) + n * s
    return [float(math.sqrt(total_n[k]) * n * s / total_ns[k]) if total_ns[k] else 0.0
            for k, n, s in zip(keys, n_h, s_h, strict=True)]


def draw_keys(n: int, seed: int) -> np.ndarray:
    """``n`` uniform draw keys from the seeded generator, one per referral in
    ``referral_id`` order: the same seed and frame draw the same sample.

    Example:
        >>> draw_keys(3, 1).round(3).tolist()
        [0.512, 0.95, 0.144]
    """
    return np.random.default_rng(seed).random(n)
