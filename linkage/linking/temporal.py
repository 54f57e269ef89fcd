"""The temporal step of the linkage: P(this referral is the case's | same person).

One person is often in several referrals, but only some join the case, and identifiers
cannot tell them apart; the gap between referral and case opening and agency agreement
can. A two-class mixture over (gap bucket, agency agreement) cells of likely same-person
pairs, fitted by EM (``fit_temporal``) and anchored on a prior for the links' gaps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Temporal step. Buckets of (case opened - referral) in days and a PRIOR for the share of
# true referral->case links in each (m): investigations open weeks after the referral
# (taken as lognormal, median 21 days, 90th percentile 75 days) and ~3% of links reach an
# already open case. The prior only anchors the fit (GAP_PRIOR_WEIGHT pseudo-pairs): m is
# re-estimated from the data, since agencies may merge a suspect's later referrals into
# one case. The share among same-person pairs that are NOT links (u) is the gap
# distribution of random referral-case pairs, computed from the data and held fixed.
GAP_BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("before", -100_000, -1),
    ("0-14", 0, 14),
    ("15-30", 15, 30),
    ("31-60", 31, 60),
    ("61-120", 61, 120),
    ("121-365", 121, 365),
    ("over 365", 366, 100_000),
)
GAP_M: tuple[float, ...] = (0.03, 0.345, 0.277, 0.211, 0.1, 0.035, 0.002)
GAP_PRIOR_WEIGHT = 50.0
# Pairs at least this likely to be the same person are what the temporal step is fitted
# on: a two-class mixture (links / other same-person pairs) over gap bucket x agency
# agreement, by EM with u_gap fixed.
RHO_IDENTITY_FLOOR = 0.9
# Share of true links whose case was recorded by the referral's own agency. ASSUMPTION
# from the domain brief ("usually equals ... some cases recorded by another agency in the
# same state"). Held fixed: fitted freely, EM cannot tell it from the rate among other
# same-person pairs and agency stops informing the step.
M_AGENCY = 0.9
# The step is used only when the gaps of likely same-person pairs differ from those of
# random referral-case pairs (G-test against u_gap, p below this): constant dates, dates
# independent of the pairing or no dates carry no timing information, and a mixture fitted
# on them has no anchor (rho collapses to 0 and every pair is discounted to nothing).
GAP_SIGNAL_P = 1e-3
# A fit whose share of links among same-person pairs falls below this has collapsed (the
# mixture put every pair in the "other" class): the step is switched off rather than used.
MIN_RHO = 0.01


@dataclass(frozen=True)
class TemporalFit:
    """Fitted temporal step, among likely same-person candidate pairs.

    Attributes:
        rho: share of them that are links.
        m_gap: gap-bucket distribution of links (fitted, anchored on ``GAP_M``).
        m_agency / u_agency: share agreeing on agency, links / other pairs.
        iterations: EM steps run.
        active: whether the step is applied (False: the dates carry no signal or the fit
            collapsed, and the final probability is the identity probability).
        reason: why it is off (empty when active).
    """

    rho: float
    m_gap: tuple[float, ...]
    m_agency: float
    u_agency: float
    iterations: int
    active: bool = True
    reason: str = ""


def gap_signal(cells: list[tuple[int, float, bool, int]]) -> tuple[float, int, float]:
    """G-test of the same-person pairs' gap buckets against the random-pair shares u_gap.

    Returns (G statistic, degrees of freedom, p-value by the Wilson-Hilferty approximation
    of the chi-square tail). Zero degrees of freedom (all random pairs in one bucket, as
    with constant dates) gives p = 1.

    Example:
        >>> cells = [(0, 0.5, True, 50), (1, 0.5, True, 50)]
        >>> gap_signal(cells)[2] > 0.5
        True
        >>> gap_signal([(0, 0.5, True, 95), (1, 0.5, True, 5)])[2] < 1e-6
        True
    """
    u: dict[int, float] = {}
    n: dict[int, int] = {}
    for b, u_gap, _same, count in cells:
        u[b] = u_gap
        n[b] = n.get(b, 0) + count
    total = sum(n.values())
    live = [b for b in u if u[b] > 1e-5]  # buckets random pairs actually fall in
    df = len(live) - 1
    if total == 0 or df < 1:
        return 0.0, max(df, 0), 1.0
    norm = sum(u[b] for b in u)
    g = 2.0 * sum(n[b] * math.log(n[b] / (total * u[b] / norm)) for b in u if n[b] > 0)
    g = max(g, 0.0)
    k = 2.0 / (9.0 * df)
    z = ((g / df) ** (1.0 / 3.0) - (1.0 - k)) / math.sqrt(k)
    return g, df, 0.5 * math.erfc(z / math.sqrt(2.0))


def fit_or_switch_off(cells: list[tuple[int, float, bool, int]]) -> TemporalFit:
    """``fit_temporal`` where the gaps carry a signal; otherwise a fit marked inactive.

    Example:
        >>> cells = [(0, 0.5, True, 50), (1, 0.5, True, 50)]
        >>> fit = fit_or_switch_off(cells)
        >>> fit.active, fit.reason.startswith("gaps of same-person pairs")
        (False, True)
    """
    g, df, p = gap_signal(cells)
    if p >= GAP_SIGNAL_P:
        reason = ("dates carry no timing signal (one gap bucket)" if df < 1 else
                  f"gaps of same-person pairs look like random pairs' (G {g:.1f}, "
                  f"{df} df, p {p:.2g})")
        return TemporalFit(1.0, GAP_M, 0.5, 0.5, 0, active=False, reason=reason)
    fit = fit_temporal(cells)
    if fit.rho < MIN_RHO:
        return TemporalFit(fit.rho, fit.m_gap, fit.m_agency, fit.u_agency, fit.iterations,
                           active=False, reason=f"fit collapsed (rho {fit.rho:.2g})")
    return fit


def fit_temporal(
    cells: list[tuple[int, float, bool, int]],
    *,
    m_prior: tuple[float, ...] = GAP_M,
    prior_weight: float = GAP_PRIOR_WEIGHT,
    m_agency: float | None = M_AGENCY,
    max_iterations: int = 2000,
) -> TemporalFit:
    """EM for the two-class mixture over (gap bucket, agency agreement) cells.

    Links have gap distribution m (free, with ``prior_weight`` pseudo-pairs of
    ``m_prior``); other same-person pairs the random-pair distribution u (fixed), which
    anchors the classes. Agency agreement has a free rate in each class (conditional
    independence given the class). Identification is weak (the likelihood is nearly
    flat along a ridge trading rho against m), so the prior and the iteration cap
    matter: the fit is a regularised estimate, not an exact one.

    Args:
        cells: (bucket index, u_gap of the bucket, same_agency, count).
        m_prior: prior gap distribution of links, one value per bucket.
        prior_weight: pseudo-pairs the prior counts for.
        m_agency: fixed agency-agreement rate of links (None: fitted too).
        max_iterations: EM steps at most (stops when parameters move < 1e-9).

    Example:
        >>> cells = [(0, 0.1, True, 60), (1, 0.9, True, 40)]
        >>> fit_temporal(cells, m_prior=(0.9, 0.1), prior_weight=1.0).rho > 0.5
        True
    """
    n_b = len(m_prior)
    total = sum(c[3] for c in cells)
    if total == 0:  # no same-person pairs: no information, the prior and neutral rates
        return TemporalFit(0.5, tuple(m_prior), 0.5, 0.5, 0)
    rho, m_gap, m_ag, u_ag = 0.5, list(m_prior), m_agency or 0.9, 0.5
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 - reported below
        gap_link = [0.0] * n_b
        n_link = ag_link = ag_other = 0.0
        for b, u, same, n in cells:
            a = rho * m_gap[b] * (m_ag if same else 1 - m_ag)
            o = (1 - rho) * u * (u_ag if same else 1 - u_ag)
            w = a / (a + o) if a + o > 0 else 0.0
            n_link += n * w
            gap_link[b] += n * w
            ag_link += n * w * same
            ag_other += n * (1 - w) * same
        n_other = total - n_link
        new_m = [
            (g + prior_weight * p) / (n_link + prior_weight)
            for g, p in zip(gap_link, m_prior, strict=True)
        ]
        new = [
            n_link / total,
            m_agency if m_agency is not None else (ag_link / n_link if n_link else m_ag),
            ag_other / n_other if n_other else u_ag,
        ]
        new = [min(max(v, 1e-6), 1 - 1e-6) for v in new]
        moved = max(
            abs(x - y) for x, y in zip([*new, *new_m], [rho, m_ag, u_ag, *m_gap], strict=True)
        )
        (rho, m_ag, u_ag), m_gap = new, new_m
        if moved < 1e-9:
            break
    return TemporalFit(rho, tuple(m_gap), m_ag, u_ag, iterations)
