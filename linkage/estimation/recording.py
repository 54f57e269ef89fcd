"""The audit's sampling design: how likely a referral case is to record its tip number.

Agencies decide whether a case records the CyberTipline number (``cybertip_ref``), and some
record it far more often than others, or more often on cases that led to an arrest. The
audit cases are then a sample of referral cases with unequal inclusion probabilities, and
the audit-sample correction must weight each audit case by the inverse of its own
probability (Horvitz-Thompson), not by one pooled rate.

The probability is estimated per cell of agency x outcome (the case reached an arrest or
not) from the observed flag: among the cases taken to be referral cases (their best
candidate is at least ``REFERRAL_CASE_FLOOR``), the share that record a tip number. Most
agencies hold a handful of cases, so each agency's share is shrunk towards its outcome
group's pooled share with a beta-binomial prior whose strength is estimated from the data
(the moment estimator of the intra-agency correlation: Kleinman 1973, "Proportions with
extraneous variance"); no agency effect in the data gives full pooling, strong agency
differences give little shrinkage.

Example:
    >>> import numpy as np
    >>> p = cell_probabilities(np.array([0, 0, 1, 1]), np.array([True, True, True, True]),
    ...                        np.array([1.0, 1.0, 0.0, 0.0]), np.array([0, 0, 0, 0]))
    >>> p.round(2).tolist()  # agency 0 records all (no shrinkage); agency 1's 0 -> pooled
    [1.0, 1.0, 0.5, 0.5]
"""

from __future__ import annotations

import numpy as np

RECORDING_BY_AGENCY = False
"""Cells by agency too (True) or by outcome only (False, the default). Measured on the
stress matrix at 5% scale, where most agencies hold one audit case or none, agency cells
made the audit correction's weights so uneven that the primary's investigation interval
widened about sixfold (1.6 to 10.6 points) and its bias grew, while outcome cells alone
kept ``uneven_audit`` as good as one pooled rate; worth revisiting at national scale."""
REFERRAL_CASE_FLOOR = 0.7
"""Cases whose best candidate has at least this probability are taken as referral cases
(the reference set of the recording probability; its sensitivity is in docs/methods.md)."""


def shrinkage_strength(n: np.ndarray, a: np.ndarray) -> float:
    """Pseudo-cases m of the beta-binomial prior of per-agency shares (``inf`` = pool all).

    ``n`` cases and ``a`` recorded (possibly bootstrap-weighted) per agency. The moment
    estimator of the intra-agency correlation rho from the between-agency spread of the
    shares; m = (1 - rho) / rho.

    Example:
        >>> shrinkage_strength(np.array([10.0, 10.0]), np.array([5.0, 5.0]))
        inf
    """
    keep = n > 0
    n, a = n[keep], a[keep]
    total = n.sum()
    if len(n) < 2 or total <= 0:
        return float("inf")
    p = a.sum() / total
    if p <= 0 or p >= 1:
        return float("inf")
    s2 = float(np.sum(n * (a / n - p) ** 2) / (len(n) - 1))
    n0 = float((total - np.sum(n ** 2) / total) / (len(n) - 1))
    if n0 <= 1:
        return float("inf")
    rho = (s2 / (p * (1 - p)) - 1.0) / (n0 - 1.0)
    if rho <= 0:
        return float("inf")
    rho = min(rho, 1.0)
    return (1.0 - rho) / rho


def cell_probabilities(agency: np.ndarray, reference: np.ndarray, recorded: np.ndarray,
                       outcome: np.ndarray) -> np.ndarray:
    """Per case, the estimated probability that a referral case of its cell records a tip.

    Args:
        agency: agency code per case.
        reference: cases taken to be referral cases (the cells' denominators).
        recorded: per case, 1 (x its bootstrap weight) when it records a tip number.
        outcome: outcome group code per case (0 = no arrest, 1 = arrest).

    Returns:
        The shrunk share of the case's agency x outcome cell; the outcome group's pooled
        share where its agency has no reference case; the overall share where the group
        has none either (0 when no case records a tip).
    """
    probs = np.zeros(len(agency))
    n_all = reference.sum()
    overall = float(recorded[reference].sum() / n_all) if n_all else 0.0
    n_agency = int(agency.max(initial=-1)) + 1
    for g in np.unique(outcome):  # outcome groups, two
        here = outcome == g
        ref = here & reference
        n = np.bincount(agency[ref], minlength=n_agency).astype(float)
        a = np.bincount(agency[ref], weights=recorded[ref], minlength=n_agency)
        pooled = a.sum() / n.sum() if n.sum() > 0 else overall
        m = shrinkage_strength(n, a)
        if np.isinf(m):
            cell = np.full(n_agency, pooled)
        else:
            cell = (a + m * pooled) / np.maximum(n + m, 1e-12)
        # an agency with no reference case, or a share of 0 (its audit cases all weak):
        # the group's pooled share
        cell = np.where((n > 0) & (cell > 0), cell, pooled)
        probs[here] = cell[agency[here]]
    return np.clip(probs, 0.0, 1.0)


def inverse_probabilities(probs: np.ndarray, recorded: np.ndarray) -> np.ndarray:
    """Horvitz-Thompson weights 1 / p of the recording cases (0 elsewhere and where p = 0).

    Example:
        >>> inverse_probabilities(np.array([0.25, 0.5, 0.0]), np.array([1, 0, 1])).tolist()
        [4.0, 0.0, 0.0]
    """
    with np.errstate(divide="ignore"):
        inv = np.where((recorded > 0) & (probs > 0), 1.0 / np.maximum(probs, 1e-12), 0.0)
    return inv
