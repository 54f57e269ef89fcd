"""The primary estimator, part 1: Splink's probabilities recalibrated on the audit sample.

The audit sample is the cases that recorded a tip number (``cybertip_ref``): their links
are known. An isotonic curve of P(true pair | match probability) is fitted on their
candidates, moved by Bayes to each offense type's prior odds (``refine``) and multiplied by
the chance that a case is a referral case at all (``_case_prior``); ``pi_calibrated`` gives
each referral's captured stages. Part 2 (``correction``) adds what the model misses.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from linkage.estimation import rates as rt
from linkage.estimation.recording import (
    RECORDING_BY_AGENCY,
    REFERRAL_CASE_FLOOR,
    cell_probabilities,
    inverse_probabilities,
)
from linkage.estimation.simple import normalise, per_referral

CALIBRATION_BINS = 20
"""Equal-width match-probability bins of the isotonic calibration."""
PRIOR_STRENGTH = 2.0
"""Pseudo-pairs per bin at Splink's own probability (shrinks thin bins towards it)."""
CASE_PRIOR_EDGES = (0.0, 0.1, 0.3, REFERRAL_CASE_FLOOR, 1.0)
"""Bins of a case's best candidate probability for P(referral case) (coarse: audit cases
with weak best candidates are few)."""
CASE_PRIOR_PSEUDO = 20.0
"""Pseudo-cases at the pooled curve in each bin of the arrested / not-arrested case prior."""
SIBLING_SHARE = 1.0
"""Assumed share of a case subject's repeat referrals to the same agency that join the case
(one investigation per suspect and agency). Not identifiable from the audit sample."""


@dataclass(frozen=True)
class CalibrationFit:
    """Audit-sample fit: calibration curve and missed-link model (see ``fit_calibration``).

    Attributes:
        knots: bin midpoints of match probability; ``curve``: calibrated P(true) there.
        n_labelled / n_true: labelled audit pairs and true ones per bin.
        weight_of_case: bootstrap weight of each case (1 for every case in the point
            fit; audit cases resampled with replacement in a bootstrap replicate).
        sibling_share: assumed chance that a sibling pair (a repeat referral of the case's
            subject to the same agency) belongs to the case (``SIBLING_SHARE``).
        prior_shift: per referral, log prior odds of having a link in its offense type
            minus those of the audit pairs the curve was fitted on (see ``refine``).
        case_prior: per case, P(it is a referral case | its best candidate's probability):
            the curve is fitted on audit cases, all referral cases, while cases from
            other sources have only false candidates (see ``_case_prior``).
        n_cases / n_audit_cases: cases and audit cases per bin of best probability.
        n_audit_links: audit links; ``audit_missed_share``: share not in the candidates.
        case_prior_curve: P(referral case) on the fine probability bins (for the table).
        recording_rate: share of referral cases that record a tip number (the audit
            sampling rate), from cases whose best candidate is >= ``REFERRAL_CASE_FLOOR``
            (taken to be referral cases); None without audit cases there. A summary only:
            the correction weights each audit case by ``inverse_recording``.
        inverse_recording: per case, the Horvitz-Thompson weight 1 / p of an audit case,
            p its agency x outcome cell's estimated recording probability
            (:mod:`linkage.estimation.recording`); 0 for other cases. None = 1 / the
            pooled ``recording_rate`` for every audit case.
    """

    knots: np.ndarray
    curve: np.ndarray
    n_labelled: np.ndarray
    n_true: np.ndarray
    weight_of_case: np.ndarray
    sibling_share: float
    prior_shift: np.ndarray | None
    case_prior: np.ndarray
    n_cases: np.ndarray
    n_audit_cases: np.ndarray
    n_audit_links: int
    audit_missed_share: float | None
    case_prior_curve: np.ndarray | None = None
    recording_rate: float | None = None
    inverse_recording: np.ndarray | None = None

    def inverse_rate(self, case: np.ndarray) -> np.ndarray:
        """HT weight of each given (audit) case index: 1 / its recording probability."""
        if self.inverse_recording is not None:
            return self.inverse_recording[case]
        rate = self.recording_rate
        return np.full(len(case), 1.0 / rate if rate else 0.0)

    def calibration_table(self) -> pd.DataFrame:
        """One row per probability bin: labelled pairs, observed and calibrated share."""
        width = 1.0 / len(self.knots)
        with np.errstate(invalid="ignore", divide="ignore"):
            observed = self.n_true / self.n_labelled
        return pd.DataFrame({
            "p_low": self.knots - width / 2, "p_high": self.knots + width / 2,
            "n_labelled": self.n_labelled, "n_true": self.n_true,
            "observed_share": observed, "calibrated": self.curve,
            "n_cases_best_here": self.n_cases, "n_audit_cases_best_here": self.n_audit_cases,
            "p_referral_case": self.case_prior_curve,
        })



def fit_calibration(
    inputs: rt.RateInputs,
    *,
    rng: np.random.Generator | None = None,
    sibling_share: float = 1.0,
) -> CalibrationFit:
    """Fit the calibration curve and missed-link model on the audit sample.

    With ``rng``, audit cases are resampled with replacement first (one bootstrap
    replicate). Labelled pairs: every scored pair of a case that records a tip number,
    true when the referral is that tip's (``audit_pair``), except the case's other
    referrals of the same person and agency (``audit_sibling``): they belong to it exactly
    when they were investigated too, which the audit cannot tell (``pi_calibrated`` models
    them with ``sibling_share``). Missed links: audit pairs that are not scored (blocking
    miss or below the score floor).

    Example:
        >>> fit_calibration(inputs).curve.round(2)  # doctest: +SKIP
    """
    weight_of_case = np.ones(int(inputs.pair_case.max(initial=-1)) + 1)
    audit_cases = np.unique(inputs.pair_case[inputs.audit_case])
    if rng is not None and len(audit_cases):
        picks = rng.integers(0, len(audit_cases), len(audit_cases))
        weight_of_case[audit_cases] = np.bincount(picks, minlength=len(audit_cases))
    labelled = inputs.audit_case & inputs.scored & ~inputs.audit_sibling
    w = weight_of_case[inputs.pair_case[labelled]]
    prob = np.nan_to_num(inputs.prob[labelled])
    label = inputs.audit_pair[labelled].astype(float)
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    knots = (edges[:-1] + edges[1:]) / 2
    b = np.clip(np.searchsorted(edges, prob, side="right") - 1, 0, CALIBRATION_BINS - 1)
    n_lab = np.bincount(b, weights=w, minlength=CALIBRATION_BINS)
    n_true = np.bincount(b, weights=w * label, minlength=CALIBRATION_BINS)
    curve = _pav((n_true + PRIOR_STRENGTH * knots) / (n_lab + PRIOR_STRENGTH),
                 n_lab + PRIOR_STRENGTH)

    case_prior, prior_curve, n_cases, n_audit_cases, recording, inverse = _case_prior(
        inputs, weight_of_case, edges)
    audit = inputs.audit_pair
    return CalibrationFit(
        knots=knots, curve=curve, n_labelled=n_lab, n_true=n_true,
        weight_of_case=weight_of_case, sibling_share=sibling_share, prior_shift=None,
        case_prior=case_prior, n_cases=n_cases, n_audit_cases=n_audit_cases,
        case_prior_curve=prior_curve, recording_rate=recording, inverse_recording=inverse,
        n_audit_links=int(audit.sum()),
        audit_missed_share=float((~inputs.scored[audit]).mean()) if audit.any() else None,
    )


def _case_prior(
    inputs: rt.RateInputs, weight_of_case: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, ...]:
    """P(a case is a referral case | its best candidate's probability), per case.

    Audit cases are referral cases; their distribution over coarse bins of best candidate
    probability (``CASE_PRIOR_EDGES``), scaled to the number of referral cases, gives the
    referral cases expected in each bin. The scale comes from the top bin (best >=
    ``REFERRAL_CASE_FLOOR``), where every case is taken to be a referral case.
    Non-decreasing in the best probability (PAV), fitted apart for cases that reached an
    arrest and cases that did not. Audit cases count with their Horvitz-Thompson weight
    (:mod:`linkage.estimation.recording`). Returns the per-case prior, the (pooled) curve
    on the fine ``edges`` bins, cases and audit cases per fine bin (for the table), the
    pooled recording rate and the per-case HT weights.
    """
    n_case = int(inputs.pair_case.max(initial=-1)) + 1
    best = np.zeros(n_case)
    np.maximum.at(best, inputs.pair_case, np.where(inputs.scored, np.nan_to_num(inputs.prob), 0))
    audit = np.zeros(n_case, dtype=bool)
    audit[inputs.pair_case[inputs.audit_case]] = True
    weight = weight_of_case[:n_case] * audit

    def counts(bin_edges: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = len(bin_edges) - 1
        b = np.clip(np.searchsorted(bin_edges, values, side="right") - 1, 0, k - 1)
        return b, np.bincount(b, minlength=k).astype(float)

    coarse = np.asarray(CASE_PRIOR_EDGES)
    b, n_cases = counts(coarse, best)
    top = coarse[:-1] >= REFERRAL_CASE_FLOOR
    arrested = np.zeros(n_case, dtype=bool)
    arrested[inputs.pair_case[inputs.stages[:, 1]]] = True
    agency = (inputs.case_agency[:n_case] if RECORDING_BY_AGENCY
              and inputs.case_agency is not None else np.zeros(n_case, dtype=np.int64))
    probs = cell_probabilities(agency, top[b], weight, arrested.astype(np.int64))
    inverse = inverse_probabilities(probs, audit.astype(float))
    # audit cases x their HT weight: the referral cases they stand for
    ht = weight * inverse
    n_audit = np.bincount(b, weights=weight, minlength=len(coarse) - 1)
    curve = np.ones(len(coarse) - 1)
    prior = np.ones(n_case)
    recording = None
    if n_audit[top].sum() > 0:
        recording = float(n_audit[top].sum() / n_cases[top].sum())
        n_ht = np.bincount(b, weights=ht, minlength=len(coarse) - 1)
        curve = _pav(np.clip(np.where(top, 1.0, n_ht / np.maximum(n_cases, 1)), 0, 1),
                     n_cases + 1)
        # By whether the case reached an arrest, too: cases from other sources are arrested
        # more (or less) often than referral cases, so among cases with the same weak best
        # candidate an arrested one is more (or less) likely from another source - and an
        # arrested case is what a false link turns into a false arrest.
        # Few audit cases fall in a middle bin of one group (often none), so each group's
        # share is shrunk towards the pooled curve by CASE_PRIOR_PSEUDO pseudo-cases.
        for group in (arrested, ~arrested):
            n_g = np.bincount(b[group], minlength=len(coarse) - 1).astype(float)
            a_g = np.bincount(b[group], weights=ht[group], minlength=len(coarse) - 1)
            share = (a_g + CASE_PRIOR_PSEUDO * curve) / (n_g + CASE_PRIOR_PSEUDO)
            share = np.where(top, 1.0, share)
            prior[group] = _pav(np.clip(share, 0, 1), n_g + 1)[b[group]]
    # every case by its bin, audit cases too: the model's prediction must be made the same
    # way for sampled and unsampled cases (pi_calibrated then uses what the audit knows)
    fine_b, fine_cases = counts(edges, best)
    fine_audit = np.bincount(fine_b, weights=weight, minlength=len(edges) - 1)
    knots = (edges[:-1] + edges[1:]) / 2
    fine_curve = curve[np.clip(np.searchsorted(coarse, knots, side="right") - 1, 0,
                               len(curve) - 1)]
    return prior, fine_curve, fine_cases, fine_audit, recording, inverse


def refine(inputs: rt.RateInputs, fit: CalibrationFit, iterations: int = 3) -> CalibrationFit:
    """Fixed-point refinement of the stratum-dependent parts of ``fit``.

    The audit curve estimates P(true | p) at the audit pairs' prior. Referrals of an
    offense type that is investigated more often are more often linked at all, so their
    pairs get the curve's likelihood ratio times their own prior odds (``prior_shift``),
    with each offense type's link rate taken from the previous iteration's estimate.

    Example:
        >>> fit = refine(inputs, fit_calibration(inputs))  # doctest: +SKIP
    """
    codes, labels = rt.strata_codes(inputs.referrals, "offense_type")
    n = np.maximum(np.bincount(codes, minlength=len(labels)), 1)
    labelled = inputs.audit_case & inputs.scored & ~inputs.audit_sibling
    if not labelled.any():  # no audit pairs: nothing to shift from
        return fit
    for _ in range(iterations):  # a few fixed-point steps, not a loop over records
        links = _link_probability(inputs, fit)
        rate = np.clip(np.bincount(codes, weights=links, minlength=len(labels)) / n,
                       1e-4, 1 - 1e-4)
        logit = np.log(rate / (1 - rate))
        audit_logit = logit[codes[inputs.pair_ref[labelled]]].mean()
        fit = dataclasses.replace(fit, prior_shift=(logit - audit_logit)[codes])
    return fit


def _link_probability(inputs: rt.RateInputs, fit: CalibrationFit) -> np.ndarray:
    """Each referral's probability of having a link at all under ``fit``."""
    ones = dataclasses.replace(inputs, stages=np.ones((len(inputs.pair_ref), 1), dtype=bool))
    return pi_calibrated(ones, fit)[:, 0]


def link_probabilities(inputs: rt.RateInputs, fit: CalibrationFit) -> np.ndarray:
    """Calibrated probability of each pair under ``fit``, from the model alone (nothing
    the audit knows is used here), normalised to <= 1 per referral.

    Example:
        >>> q = link_probabilities(inputs, fit_calibration(inputs))  # doctest: +SKIP
    """
    q = np.interp(np.nan_to_num(inputs.prob), fit.knots, fit.curve)
    if fit.prior_shift is not None:  # Bayes: same likelihood ratio, the stratum's prior
        odds = np.log(np.clip(q, 1e-9, 1 - 1e-9) / np.clip(1 - q, 1e-9, 1))
        q = 1.0 / (1.0 + np.exp(-(odds + fit.prior_shift[inputs.pair_ref])))
    q = np.where(inputs.scored, q * fit.case_prior[inputs.pair_case], 0.0)
    if fit.sibling_share > 0:
        # a sibling pair is a link when its case's best candidate is and it was investigated
        sib = inputs.sibling
        top = np.zeros(int(inputs.pair_case.max(initial=-1)) + 1)
        np.maximum.at(top, inputs.pair_case[~sib], q[~sib])
        q = np.where(sib, top[inputs.pair_case] * fit.sibling_share * inputs.identity, q)
    return normalise(q, inputs.pair_ref, inputs.n_referrals)


def audit_truth(inputs: rt.RateInputs, fit: CalibrationFit) -> np.ndarray:
    """What the audit knows of each pair of an audit case: 1 for the referral of the
    recorded tip, the assumed sibling share x P(same person) for a repeat referral of
    its subject to the same agency (not identifiable), 0 for every other candidate.
    Meaningful on ``inputs.audit_case`` pairs only."""
    sibling = fit.sibling_share * inputs.identity
    return np.where(inputs.audit_pair, 1.0, np.where(inputs.audit_sibling, sibling, 0.0))


def _known(inputs: rt.RateInputs) -> np.ndarray:
    """Referrals whose link is known from the audit (their case recorded their tip)."""
    known = np.zeros(inputs.n_referrals, dtype=bool)
    known[inputs.pair_ref[inputs.audit_pair]] = True
    return known


def pi_calibrated(inputs: rt.RateInputs, fit: CalibrationFit) -> np.ndarray:
    """Per-referral expected stages captured by the candidates under ``fit``: model
    probabilities, except what the audit knows (an audit case's pairs take
    ``audit_truth``; the recorded tip's referral has no other case). The links the
    model misses are ``missed_correction``'s.

    Example:
        >>> pi_calibrated(inputs, fit_calibration(inputs))[:, 0].sum()  # doctest: +SKIP
    """
    return per_referral(inputs, pair_weights(inputs, fit))


def pair_weights(inputs: rt.RateInputs, fit: CalibrationFit) -> np.ndarray:
    """Each pair's probability of being the referral's link under ``fit``, with what the
    audit knows (``pi_calibrated`` sums it x the stages; the time-to-event step weights
    each pair's stage dates by it)."""
    q = link_probabilities(inputs, fit)
    q = np.where(inputs.audit_case, audit_truth(inputs, fit), q)
    q = np.where(_known(inputs)[inputs.pair_ref] & ~inputs.audit_pair, 0.0, q)
    return normalise(q, inputs.pair_ref, inputs.n_referrals)


def _pav(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted pool-adjacent-violators: the non-decreasing fit to y (a few bins)."""
    values, weights, sizes = [], [], []
    for yi, wi in zip(y.tolist(), w.tolist(), strict=True):  # over bins, not records
        values.append(yi)
        weights.append(wi)
        sizes.append(1)
        while len(values) > 1 and values[-2] > values[-1]:
            wsum = weights[-2] + weights[-1]
            merged = (values[-2] * weights[-2] + values[-1] * weights[-1]) / wsum
            size = sizes[-2] + sizes[-1]
            del values[-1], weights[-1], sizes[-1]
            values[-1], weights[-1], sizes[-1] = merged, wsum, size
    return np.repeat(values, sizes)
