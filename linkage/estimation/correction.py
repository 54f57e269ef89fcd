"""The primary estimator, part 2: the audit-sample correction for what the model gets wrong.

A difference estimator over the audit cases (a sample of referral cases at the recording
rate), the missed leads' Jeffreys draw and the pooled variance floor of each offense type's
correction; ``primary_draw`` combines part 1 (``calibration``) and this.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from linkage.estimation import rates as rt
from linkage.estimation.calibration import (
    CalibrationFit,
    audit_truth,
    link_probabilities,
    pi_calibrated,
)
from linkage.estimation.intervals import Draw


def _by_referral(inputs: rt.RateInputs, weights: np.ndarray) -> np.ndarray:
    """Sum weights x stage over each referral's pairs, unclipped: an (n, 4) array."""
    out = np.zeros((inputs.n_referrals, inputs.stages.shape[1]))
    for k in range(out.shape[1]):
        out[:, k] = np.bincount(inputs.pair_ref, weights=weights * inputs.stages[:, k],
                                minlength=inputs.n_referrals)
    return out


def sibling_ratio(inputs: rt.RateInputs, q: np.ndarray) -> float:
    """Repeat referrals per lead referral among the model's links (sibling link mass over
    the rest): how many repeat referrals a missed lead referral stands for."""
    rest = q[~inputs.sibling].sum()
    return float(q[inputs.sibling].sum() / rest) if rest > 0 else 0.0


def missed_correction(inputs: rt.RateInputs, fit: CalibrationFit,
                      q: np.ndarray | None = None, *, missed_leads: bool = True) -> np.ndarray:
    """Expected stages the model gets wrong on cases like the audit cases, per referral.

    Audit cases are a sample of referral cases, each drawn with its agency x outcome
    cell's recording probability p (``fit.inverse_recording``; agencies decide whether to
    record the tip number, not the referral's identifiers). For each one the difference
    between what the audit knows (``audit_truth``) and the model's prediction, x the
    case's stages, is scaled by 1 / p - 1 (Horvitz-Thompson; the audit case itself is
    already known) and booked to the referral it concerns: missed and under-scored true links add,
    false links into referral cases subtract. Repeat referrals that blocking missed are
    invisible even on audit cases: each missed lead referral adds ``sibling_ratio`` of
    them at 1 / p. False links into cases from other sources are the case prior's.
    Bootstrap weights of ``fit`` apply. ``missed_leads=False`` leaves out the audit links
    blocking never proposed (the interval draws take those from ``missed_leads_draw``).

    Example:
        >>> missed_correction(inputs, fit_calibration(inputs))[:, 0].sum()  # doctest: +SKIP
        52.3
    """
    q = link_probabilities(inputs, fit) if q is None else q
    if not fit.recording_rate or not inputs.audit_case.any():
        return np.zeros((inputs.n_referrals, inputs.stages.shape[1]))
    w_case = fit.weight_of_case[inputs.pair_case]
    inv = np.where(inputs.audit_case, fit.inverse_rate(inputs.pair_case), 0.0)
    diff = np.where(inputs.audit_case, audit_truth(inputs, fit) - q, 0.0)
    missed_lead = inputs.audit_pair & ~inputs.scored
    if not missed_leads:
        diff = np.where(missed_lead, 0.0, diff)
    siblings = np.where(missed_lead & missed_leads, sibling_ratio(inputs, q) * inv, 0.0)
    return _by_referral(inputs, w_case * (diff * np.maximum(inv - 1.0, 0.0) + siblings))


JEFFREYS = 0.5
"""Prior count of the Jeffreys (Gamma) posterior of an offense type's missed audit leads."""


def missed_leads_draw(inputs: rt.RateInputs, fit: CalibrationFit, q: np.ndarray,
                      pi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One interval draw of the missed-lead part of ``missed_correction``, per referral.

    Audit links that blocking never proposed are rare (a few per offense type), and a
    bootstrap of a rare count is degenerate: with none in the sample it has no spread,
    although unaudited misses still exist. Per offense type the expected count of sampled
    misses is drawn from its Jeffreys posterior, Gamma(k + 1/2), times the stages of its
    misses (or of its audit links, when it has none), each x (1 / p - 1) + sibling_ratio /
    p with p its case's recording probability, and spread over the offense type's
    eligible referrals with no captured link (the referrals such misses come from), or
    all its eligible referrals if none.

    Example:
        >>> missed_leads_draw(inputs, fit, q, pi, np.random.default_rng(1)).sum()  # doctest: +SKIP
    """
    out = np.zeros((inputs.n_referrals, inputs.stages.shape[1]))
    if not fit.recording_rate or not inputs.audit_pair.any():
        return out
    codes, labels = rt.strata_codes(inputs.referrals, "offense_type")
    audit = np.flatnonzero(inputs.audit_pair)
    inv = fit.inverse_rate(inputs.pair_case[audit])
    per_lead = np.maximum(inv - 1.0, 0.0) + sibling_ratio(inputs, q) * inv
    missed = ~inputs.scored[audit]
    audit_code = codes[inputs.pair_ref[audit]]
    stages = inputs.stages[audit].astype(float) * per_lead[:, None]
    eligible = inputs.eligible
    unlinked = eligible & (pi[:, 0] <= 0)
    for g in range(len(labels)):  # offense types, a handful
        here = audit_code == g
        k = int((here & missed).sum())
        pool = stages[here & missed] if k else (stages[here] if here.any() else stages)
        total = rng.gamma(k + JEFFREYS) * pool.mean(axis=0)
        targets = unlinked & (codes == g)
        if not targets.any():
            targets = eligible & (codes == g)
        if targets.any():
            out[targets] += total / targets.sum()
    return out


@dataclass(frozen=True)
class CorrectionSpread:
    """The spread the audit correction of each offense type would have if its audit cases
    erred as often as the audit cases of all offense types do, beyond the spread its own
    audit cases give (which a bootstrap sees, and which is nil when they happen to hold no
    error): per offense type and stage an extra standard deviation, one shared normal draw
    per offense type and interval replicate, spread evenly over its eligible referrals."""

    codes: np.ndarray
    per_referral_sd: np.ndarray  # (n_offense_types, 4), already divided by the referrals

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        z = rng.standard_normal(len(self.per_referral_sd))
        return (z[:, None] * self.per_referral_sd)[self.codes]


def correction_spread(inputs: rt.RateInputs, fit: CalibrationFit) -> CorrectionSpread:
    """The pooled variance floor of the audit correction (see ``CorrectionSpread``).

    With recording rate a, the correction of offense type g at stage s is a Horvitz-
    Thompson total over its audit cases that reached s; its variance is about
    (1 - a) / a^2 x the sum of their squared errors d. Errors are rare (most audit cases
    are linked right), so that sum is often nil in a small cell although its unaudited
    cases err like everyone else's. The pooled version takes the expected number of such
    audit cases (a x the cell's captured links reaching s) x the mean squared error of
    all audit cases that reached s; the floor is what it adds to the cell's own sum.

    Example:
        >>> correction_spread(inputs, fit_calibration(inputs)).draw(rng).shape  # doctest: +SKIP
    """
    codes, labels = rt.strata_codes(inputs.referrals, "offense_type")
    k, n_stage = len(labels), inputs.stages.shape[1]
    sd = np.zeros((k, n_stage))
    if not fit.recording_rate or not inputs.audit_pair.any():
        return CorrectionSpread(codes, sd)
    # the audit cases' mean inclusion probability (harmonic: what their HT weights average)
    rate = 1.0 / float(np.mean(fit.inverse_rate(inputs.pair_case[inputs.audit_pair])))
    q = link_probabilities(inputs, fit)
    diff = np.where(inputs.audit_case, audit_truth(inputs, fit) - q, 0.0)
    stages = inputs.stages.astype(float)
    n_case = int(inputs.pair_case.max(initial=-1)) + 1
    lead = np.full(n_case, -1)
    lead[inputs.pair_case[inputs.audit_pair]] = codes[inputs.pair_ref[inputs.audit_pair]]
    captured = pi_calibrated(inputs, fit)
    eligible = inputs.eligible
    n_eligible = np.bincount(codes[eligible], minlength=k).astype(float)
    scale = (1.0 - rate) / rate ** 2
    for j in range(n_stage):  # stages, four
        err = np.bincount(inputs.pair_case, weights=diff * stages[:, j], minlength=n_case)
        reached = np.bincount(inputs.pair_case, weights=stages[:, j] * inputs.audit_case,
                              minlength=n_case) > 0
        audited = reached & (lead >= 0)
        if not audited.any():
            continue
        mean_sq = float(np.mean(err[audited] ** 2))
        own = np.bincount(lead[audited], weights=err[audited] ** 2, minlength=k)
        expected = rate * np.bincount(codes[eligible], weights=captured[eligible, j],
                                      minlength=k)
        floor = scale * np.clip(expected * mean_sq - own, 0.0, None)
        sd[:, j] = np.sqrt(floor) / np.maximum(n_eligible, 1.0)
    return CorrectionSpread(codes, sd)


def primary_draw(inputs: rt.RateInputs, fit: CalibrationFit) -> Draw:
    """The primary estimator under ``fit``: captured stages (imputed in the interval
    draws) plus the missed-link correction (added as it is).

    Example:
        >>> primary_draw(inputs, fit_calibration(inputs)).extra.shape  # doctest: +SKIP
        (16625, 4)
    """
    q = link_probabilities(inputs, fit)
    return Draw(pi_calibrated(inputs, fit), missed_correction(inputs, fit, q))


def missed_table(inputs: rt.RateInputs, fit: CalibrationFit) -> pd.DataFrame:
    """Per offense type (and ALL): audit links, how many of them blocking missed, the
    recording rate, the sibling ratio and the expected investigations the correction adds
    (counts and rates only; nothing per record)."""
    q = link_probabilities(inputs, fit)
    corr = missed_correction(inputs, fit, q)[:, 0]
    codes, labels = rt.strata_codes(inputs.referrals, "offense_type")
    audit = inputs.audit_pair
    ref = inputs.pair_ref[audit]
    n = len(labels)
    links = np.bincount(codes[ref], minlength=n).astype(float)
    missed = np.bincount(codes[ref], weights=(~inputs.scored[audit]).astype(float),
                         minlength=n)
    added = np.bincount(codes, weights=corr, minlength=n)
    return pd.DataFrame({
        "offense_type": [*labels, "ALL"],
        "audit_links": np.r_[links, links.sum()].astype(np.int64),
        "audit_links_not_candidates": np.r_[missed, missed.sum()].astype(np.int64),
        "recording_rate": fit.recording_rate,
        "sibling_ratio": sibling_ratio(inputs, q),
        "investigations_added": np.r_[added, added.sum()],
    })


