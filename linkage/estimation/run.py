"""Conversion-rate estimators side by side, and the linkage-error-adjusted primary one.

Each estimator turns the pairs of ``rates_pairs`` into a per-referral probability of
having reached each stage (``pi``, an (n_referrals, 4) array, non-increasing over stages);
rates are sums of ``pi`` over referrals in a stratum (``linkage.estimation.rates``).

* ``deterministic`` - the ``cybertip_ref`` join only: a referral reached a stage if the
  case recording its tip number did; every other referral counts as unconverted.
* ``threshold`` - the best link per referral above the threshold (``links``).
* ``weighted`` - Lahiri-Larsen / fastLink style: sum over candidate cases of
  p(r, c) * stage(c), probabilities normalised so they add up to at most 1 per referral.
* ``calibrated`` (primary) - corrects the errors that leave the naive estimators low:
  mis-calibrated match probabilities (including the case-side discount of a suspect's
  repeat referrals) and true pairs that never became candidates. See
  ``PRIMARY_DESCRIPTION``, ``fit_calibration``, ``refine`` and ``pi_calibrated``.

Intervals: ``deterministic`` and ``threshold`` take Wilson intervals treating links as
true (they ignore linkage error); ``weighted`` draws each referral's outcome from its
``pi`` (linkage uncertainty only); ``calibrated`` combines a bootstrap over audit cases
(refitting calibration and missed-link model) with one imputation of every referral's
outcome per bootstrap replicate, and takes percentiles. Intervals target the **realised
share of these referrals** (a finite-population quantity), not a superpopulation rate.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from linkage.db import build_table
from linkage.estimation import disclosure
from linkage.estimation import rates as rt

log = logging.getLogger(__name__)

METHODS: tuple[str, ...] = ("deterministic", "threshold", "weighted", "calibrated")
PRIMARY = "calibrated"
DEFAULT_N_BOOT = 200
PRIMARY_DESCRIPTION = (
    "Splink probabilities recalibrated on the cybertip_ref audit sample (isotonic fit of "
    "P(true pair | match probability) on the candidates of cases recording a tip number), "
    "moved by Bayes to each offense type's prior odds of a link, and multiplied by the "
    "chance that the case is a referral case at all given its best candidate (estimated "
    "from the audit cases' spread over best-candidate bins at the recording rate); a repeat "
    "referral of a case's subject to the same agency (sibling) gets the case's best "
    "probability x P(same person) x an assumed sibling share (default 1: one investigation "
    "per suspect and agency); probabilities normalised to <= 1 per referral. Then a "
    "difference estimator on the audit sample: audit cases are a sample of referral cases "
    "at the recording rate (the audit share of cases whose best candidate is >= 0.7), so "
    "what the model gets wrong on them - true links missed or under-scored, false links "
    "into them - is added once more per 1 / rate - 1 unaudited cases, booked to the "
    "referrals concerned; each audit link blocking never proposed also stands for the "
    "repeat referrals missed with it (repeat-referral link mass per lead). Assumes audit "
    "cases are like other referral cases in how the model errs on them (agencies decide "
    "whether to record a tip number, not the referral's identifiers) and that repeat "
    "referrals are missed as often as the first. 95% CI: bootstrap over audit cases "
    "(calibration, case prior, recording rate and correction refitted; the rare audit links "
    "blocking missed drawn per offense type from a Jeffreys posterior of their count; a "
    "variance floor for each offense type's correction from the mean squared error of all "
    "audit cases, for cells whose own audit cases happen to hold no error) x one imputation "
    "of every referral's captured outcome per replicate, percentiles; targets the realised "
    "share of these referrals. Measured in the toolkit's methodology simulation (default "
    "scenario, 10% scale, 100 replicates: docs/simulation.md) these intervals held the truth "
    "in 75-87% of replicates in most large cells: too narrow, read them as a lower bound on "
    "the uncertainty"
)
METHOD_DESCRIPTIONS: dict[str, str] = {
    "deterministic": "cybertip_ref join only; unmatched referrals count as unconverted; "
    "Wilson CI treating the links as true",
    "threshold": "best Splink link per referral above the threshold; Wilson CI treating "
    "the links as true",
    "weighted": "sum of Splink match probability x stage over candidate cases (normalised "
    "to <= 1 per referral); CI from imputing outcomes from those probabilities",
    "calibrated": PRIMARY_DESCRIPTION,
}


@dataclass(frozen=True)
class EstimateSummary:
    """What ``estimate`` wrote (counts and headline figures; never identifiers).

    Attributes:
        primary: the method marked primary.
        methods: every method estimated.
        n_referrals: referrals loaded; ``n_eligible``: those with full follow-up.
        censoring: the censoring rule in words.
        n_audit_links: cybertip_ref (audit) links; ``audit_missed_share``: share of them
            absent from ``scored_pairs``.
        headline: primary cumulative rate per stage for ``ALL`` (unsuppressed).
        tables: tables written; ``seconds``: wall time.
    """

    primary: str
    methods: tuple[str, ...]
    n_referrals: int
    n_eligible: int
    censoring: str
    n_audit_links: int
    audit_missed_share: float | None
    follow_up_days: int = rt.DEFAULT_FOLLOW_UP_DAYS
    headline: dict[str, float] = field(default_factory=dict)
    tables: tuple[str, ...] = ()
    seconds: float = 0.0


def estimate(
    con: duckdb.DuckDBPyConnection,
    *,
    seed: int = 0,
    n_boot: int = DEFAULT_N_BOOT,
    threshold: float | None = None,
    primary: str = PRIMARY,
    suppress_below: int = disclosure.MIN_NUMERATOR,
    min_denominator: int = disclosure.MIN_DENOMINATOR,
    follow_up_days: int = rt.DEFAULT_FOLLOW_UP_DAYS,
    end_date: dt.date | None = None,
    sibling_share: float | None = None,
    dimensions: Sequence[str] = rt.STRATA,
    companions: bool = True,
) -> EstimateSummary:
    """Estimate conversion rates with every method; write ``conversion_rates`` and companions.

    Args:
        con: study database after linkage (``raw_*``, ``scored_pairs``, ``links``).
        seed: seed of every random draw (same seed, same estimates).
        n_boot: bootstrap/imputation replicates of the interval draws.
        threshold: link threshold of the ``threshold`` method (None = the ``links`` table).
        primary: the method marked ``is_primary``.
        suppress_below: minimum numerator of a published cell (0 = no suppression).
        min_denominator: minimum denominator of a published cell (0 = none).
        follow_up_days: the censoring rule's window (see :mod:`linkage.estimation.rates`).
        end_date: the study end (extract) date; None = latest date in the data.
        sibling_share: assumed share of a case subject's other referrals to the same
            agency that belong to the case (None = ``SIBLING_SHARE``); the audit sample
            records one tip per case, so it cannot tell - vary it as a sensitivity check.
        dimensions: stratum dimensions estimated (default all of ``rates.STRATA``; must
            include ``offense_type``, the contract table's). Fewer dimensions leave every
            estimate and interval of the others unchanged: the random draws do not
            depend on them.
        companions: write the companion tables (strata, methods, calibration, missed
            links, tip funnel) besides ``conversion_rates``; False writes that one only
            (a methodology replicate reads nothing else).

    Returns:
        An ``EstimateSummary``.

    Raises:
        ValueError: unknown ``primary``, ``n_boot`` < 1 or a negative window.

    Example:
        >>> from linkage.db import connect
        >>> summary = estimate(connect("study.duckdb"), seed=1)  # doctest: +SKIP
        >>> summary.headline["arrest"]  # doctest: +SKIP
        0.0143
    """
    if primary not in METHODS:
        raise ValueError(f"primary must be one of {', '.join(METHODS)}, got {primary!r}")
    if n_boot < 1 or follow_up_days < 0:
        raise ValueError("n_boot must be >= 1 and follow_up_days >= 0")
    if "offense_type" not in dimensions or not set(dimensions) <= set(rt.STRATA):
        raise ValueError(f"dimensions must include offense_type and be among "
                         f"{', '.join(rt.STRATA)}, got {list(dimensions)}")
    t0 = time.perf_counter()
    censoring = rt.Censoring(end_date or rt.infer_end_date(con), follow_up_days)
    inputs = rt.load_inputs(con, censoring)
    rng = np.random.default_rng(seed)
    share = SIBLING_SHARE if sibling_share is None else float(sibling_share)
    fit = refine(inputs, fit_calibration(inputs, sibling_share=share))
    if fit.n_audit_links == 0:
        log.warning("no cybertip_ref audit links: the calibration falls back to Splink's "
                    "probabilities and a 1%% missed-link rate")
    pis = {
        "deterministic": rt.Draw(pi_deterministic(inputs)),
        "threshold": rt.Draw(pi_threshold(
            inputs, None if threshold is None else rt.link_mask(con, threshold))),
        "weighted": rt.Draw(pi_weighted(inputs)),
        "calibrated": primary_draw(inputs, fit),
    }

    spread = correction_spread(inputs, fit)

    def draw_primary() -> rt.Draw:
        boot = refine(inputs, fit_calibration(inputs, rng=rng, sibling_share=share),
                      iterations=2)
        q = link_probabilities(inputs, boot)
        pi = pi_calibrated(inputs, boot)
        extra = (missed_correction(inputs, boot, q, missed_leads=False)
                 + missed_leads_draw(inputs, boot, q, pi, rng)
                 + spread.draw(rng))
        return rt.Draw(pi, extra)

    draws = {"weighted": (lambda: pis["weighted"]), "calibrated": draw_primary}
    frames = [
        rt.method_table(inputs, name, pis[name], draws.get(name), n_boot, rng,
                        dimensions=dimensions)
        for name in METHODS
    ]
    table = pd.concat(frames, ignore_index=True)
    table["is_primary"] = table["method"] == primary
    table["follow_up_days"] = follow_up_days
    table["censoring"] = censoring.describe()
    published = disclosure.suppress(
        table, min_numerator=suppress_below, min_denominator=min_denominator
    )
    tables = _write(con, published, inputs, fit, primary, censoring, companions)
    allrow = table[(table.method == primary) & (table.stratum == "ALL")
                   & (table.dimension == "offense_type") & (table.rate_kind == "cumulative")]
    summary = EstimateSummary(
        primary=primary,
        methods=METHODS,
        n_referrals=inputs.n_referrals,
        n_eligible=int(inputs.eligible.sum()),
        censoring=censoring.describe(),
        n_audit_links=fit.n_audit_links,
        audit_missed_share=fit.audit_missed_share,
        follow_up_days=follow_up_days,
        headline=dict(zip(allrow["stage"], allrow["estimate"].astype(float), strict=True)),
        tables=tables,
        seconds=round(time.perf_counter() - t0, 3),
    )
    log.info("estimated %d methods over %d eligible referrals in %.1f s",
             len(METHODS), summary.n_eligible, summary.seconds)
    return summary


def _per_referral(inputs: rt.RateInputs, q: np.ndarray) -> np.ndarray:
    """Sum q * stage over each referral's pairs: an (n_referrals, 4) array."""
    n = inputs.n_referrals
    out = np.empty((n, inputs.stages.shape[1]))
    for k in range(inputs.stages.shape[1]):
        out[:, k] = np.bincount(inputs.pair_ref, weights=q * inputs.stages[:, k], minlength=n)
    return np.clip(out, 0.0, 1.0)


def pi_deterministic(inputs: rt.RateInputs) -> np.ndarray:
    """Per-referral stages through the cybertip_ref (audit) join only.

    Example:
        >>> pi_deterministic(inputs)[:, 0].mean()  # doctest: +SKIP
        0.016
    """
    return _per_referral(inputs, inputs.audit_pair.astype(float))


def pi_threshold(inputs: rt.RateInputs, links: np.ndarray | None = None) -> np.ndarray:
    """Per-referral stages of the links: ``inputs.link`` (the ``links`` table), or the
    pair mask ``links`` (``rates.link_mask`` at another threshold: the same rule).

    Example:
        >>> pi_threshold(inputs, rt.link_mask(con, 0.8)).shape  # doctest: +SKIP
        (16625, 4)
    """
    chosen = inputs.link if links is None else links
    return _per_referral(inputs, chosen.astype(float))


def pi_weighted(inputs: rt.RateInputs) -> np.ndarray:
    """Per-referral expected stages from Splink probabilities, normalised to sum <= 1.

    Example:
        >>> pi_weighted(inputs)[:, 1].sum()  # doctest: +SKIP
        230.4
    """
    q = np.where(inputs.scored, np.nan_to_num(inputs.prob), 0.0)
    return _per_referral(inputs, normalise(q, inputs.pair_ref, inputs.n_referrals))


def _write(con: duckdb.DuckDBPyConnection, published: pd.DataFrame, inputs: rt.RateInputs,
           fit: CalibrationFit, primary: str, censoring: rt.Censoring,
           companions: bool = True) -> tuple[str, ...]:
    """Write the output tables, each from its SQL file reading a registered frame
    (``conversion_rates`` alone without ``companions``)."""
    if not companions:
        con.register("rates_estimates_input", published)
        try:
            return (build_table(con, "marts/conversion_rates.sql"),)
        finally:
            con.unregister("rates_estimates_input")
    methods = pd.DataFrame({
        "method": list(METHODS),
        "is_primary": [m == primary for m in METHODS],
        "description": [METHOD_DESCRIPTIONS[m] for m in METHODS],
        "censoring": censoring.describe(),
    })
    views = {
        "rates_estimates_input": published,
        "rates_methods_input": methods,
        "rates_calibration_input": fit.calibration_table(),
        "rates_missed_links_input": missed_table(inputs, fit),
    }
    files = (
        "marts/conversion_rates.sql",
        "marts/conversion_rates_strata.sql",
        "marts/conversion_rates_methods.sql",
        "marts/rates_calibration.sql",
        "marts/rates_missed_links.sql",
        "marts/rates_tip_funnel.sql",
    )
    for name, frame in views.items():
        con.register(name, frame)
    try:
        return tuple(build_table(con, f) for f in files)
    finally:
        for name in views:
            con.unregister(name)


# --- the primary estimator: calibration and missed links from the audit sample -----------

CALIBRATION_BINS = 20
"""Equal-width match-probability bins of the isotonic calibration."""
PRIOR_STRENGTH = 2.0
"""Pseudo-pairs per bin at Splink's own probability (shrinks thin bins towards it)."""
REFERRAL_CASE_FLOOR = 0.7
"""Cases whose best candidate has at least this probability are taken as referral cases."""
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
            (taken to be referral cases); None without audit cases there.
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



def normalise(q: np.ndarray, pair_ref: np.ndarray, n_referrals: int) -> np.ndarray:
    """Scale each referral's pair probabilities down so they add up to at most 1.

    Example:
        >>> normalise(np.array([0.8, 0.6, 0.3]), np.array([0, 0, 1]), 2).round(3).tolist()
        [0.571, 0.429, 0.3]
    """
    total = np.bincount(pair_ref, weights=q, minlength=n_referrals)
    return q / np.maximum(total, 1.0)[pair_ref]


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

    case_prior, prior_curve, n_cases, n_audit_cases, recording = _case_prior(
        inputs, weight_of_case, edges)
    audit = inputs.audit_pair
    return CalibrationFit(
        knots=knots, curve=curve, n_labelled=n_lab, n_true=n_true,
        weight_of_case=weight_of_case, sibling_share=sibling_share, prior_shift=None,
        case_prior=case_prior, n_cases=n_cases, n_audit_cases=n_audit_cases,
        case_prior_curve=prior_curve, recording_rate=recording,
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
    arrest and cases that did not. Returns the per-case prior, the (pooled) curve on the
    fine ``edges`` bins, cases and audit cases per fine bin (for the table), and
    the recording rate (audit share of referral cases) that scales it.
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
    n_audit = np.bincount(b, weights=weight, minlength=len(coarse) - 1)
    top = coarse[:-1] >= REFERRAL_CASE_FLOOR
    curve = np.ones(len(coarse) - 1)
    prior = np.ones(n_case)
    recording = None
    if n_audit[top].sum() > 0:
        recording = float(n_audit[top].sum() / n_cases[top].sum())
        curve = _pav(np.clip(np.where(top, 1.0, n_audit / recording / np.maximum(n_cases, 1)),
                             0, 1), n_cases + 1)
        # By whether the case reached an arrest, too: cases from other sources are arrested
        # more (or less) often than referral cases, so among cases with the same weak best
        # candidate an arrested one is more (or less) likely from another source - and an
        # arrested case is what a false link turns into a false arrest.
        arrested = np.zeros(n_case, dtype=bool)
        arrested[inputs.pair_case[inputs.stages[:, 1]]] = True
        # Few audit cases fall in a middle bin of one group (often none), so each group's
        # share is shrunk towards the pooled curve by CASE_PRIOR_PSEUDO pseudo-cases.
        for group in (arrested, ~arrested):
            n_g = np.bincount(b[group], minlength=len(coarse) - 1).astype(float)
            a_g = np.bincount(b[group], weights=weight[group], minlength=len(coarse) - 1)
            share = (a_g / recording + CASE_PRIOR_PSEUDO * curve) / (n_g + CASE_PRIOR_PSEUDO)
            share = np.where(top, 1.0, share)
            prior[group] = _pav(np.clip(share, 0, 1), n_g + 1)[b[group]]
    # every case by its bin, audit cases too: the model's prediction must be made the same
    # way for sampled and unsampled cases (pi_calibrated then uses what the audit knows)
    fine_b, fine_cases = counts(edges, best)
    fine_audit = np.bincount(fine_b, weights=weight, minlength=len(edges) - 1)
    knots = (edges[:-1] + edges[1:]) / 2
    fine_curve = curve[np.clip(np.searchsorted(coarse, knots, side="right") - 1, 0,
                               len(curve) - 1)]
    return prior, fine_curve, fine_cases, fine_audit, recording


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
    q = link_probabilities(inputs, fit)
    q = np.where(inputs.audit_case, audit_truth(inputs, fit), q)
    q = np.where(_known(inputs)[inputs.pair_ref] & ~inputs.audit_pair, 0.0, q)
    return _per_referral(inputs, normalise(q, inputs.pair_ref, inputs.n_referrals))


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

    Audit cases are a sample of referral cases at ``fit.recording_rate`` (agencies decide
    whether to record the tip number, not the referral's identifiers). For each one the
    difference between what the audit knows (``audit_truth``) and the model's prediction,
    x the case's stages, is scaled by 1 / rate - 1 (the audit case itself is already
    known) and booked to the referral it concerns: missed and under-scored true links add,
    false links into referral cases subtract. Repeat referrals that blocking missed are
    invisible even on audit cases: each missed lead referral adds ``sibling_ratio`` of
    them at 1 / rate. False links into cases from other sources are the case prior's.
    Bootstrap weights of ``fit`` apply. ``missed_leads=False`` leaves out the audit links
    blocking never proposed (the interval draws take those from ``missed_leads_draw``).

    Example:
        >>> missed_correction(inputs, fit_calibration(inputs))[:, 0].sum()  # doctest: +SKIP
        52.3
    """
    q = link_probabilities(inputs, fit) if q is None else q
    rate = fit.recording_rate
    if not rate or not inputs.audit_case.any():
        return np.zeros((inputs.n_referrals, inputs.stages.shape[1]))
    w_case = fit.weight_of_case[inputs.pair_case]
    diff = np.where(inputs.audit_case, audit_truth(inputs, fit) - q, 0.0)
    missed_lead = inputs.audit_pair & ~inputs.scored
    if not missed_leads:
        diff = np.where(missed_lead, 0.0, diff)
    siblings = np.where(missed_lead & missed_leads, sibling_ratio(inputs, q) / rate, 0.0)
    return _by_referral(inputs, w_case * (diff * (1.0 / rate - 1.0) + siblings))


JEFFREYS = 0.5
"""Prior count of the Jeffreys (Gamma) posterior of an offense type's missed audit leads."""


def missed_leads_draw(inputs: rt.RateInputs, fit: CalibrationFit, q: np.ndarray,
                      pi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One interval draw of the missed-lead part of ``missed_correction``, per referral.

    Audit links that blocking never proposed are rare (a few per offense type), and a
    bootstrap of a rare count is degenerate: with none in the sample it has no spread,
    although unaudited misses still exist. Per offense type the expected count of sampled
    misses is drawn from its Jeffreys posterior, Gamma(k + 1/2), times the stages of its
    misses (or of its audit links, when it has none), x (1 / rate - 1) + sibling_ratio /
    rate, and spread over the offense type's eligible referrals with no captured link
    (the referrals such misses come from), or all its eligible referrals if none.

    Example:
        >>> missed_leads_draw(inputs, fit, q, pi, np.random.default_rng(1)).sum()  # doctest: +SKIP
    """
    out = np.zeros((inputs.n_referrals, inputs.stages.shape[1]))
    rate = fit.recording_rate
    if not rate or not inputs.audit_pair.any():
        return out
    per_lead = (1.0 / rate - 1.0) + sibling_ratio(inputs, q) / rate
    codes, labels = rt.strata_codes(inputs.referrals, "offense_type")
    audit = np.flatnonzero(inputs.audit_pair)
    missed = ~inputs.scored[audit]
    audit_code = codes[inputs.pair_ref[audit]]
    stages = inputs.stages[audit].astype(float)
    eligible = inputs.eligible
    unlinked = eligible & (pi[:, 0] <= 0)
    for g in range(len(labels)):  # offense types, a handful
        here = audit_code == g
        k = int((here & missed).sum())
        pool = stages[here & missed] if k else (stages[here] if here.any() else stages)
        total = rng.gamma(k + JEFFREYS) * pool.mean(axis=0) * per_lead
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
    rate = fit.recording_rate
    if not rate or not inputs.audit_pair.any():
        return CorrectionSpread(codes, sd)
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


def primary_draw(inputs: rt.RateInputs, fit: CalibrationFit) -> rt.Draw:
    """The primary estimator under ``fit``: captured stages (imputed in the interval
    draws) plus the missed-link correction (added as it is).

    Example:
        >>> primary_draw(inputs, fit_calibration(inputs)).extra.shape  # doctest: +SKIP
        (16625, 4)
    """
    q = link_probabilities(inputs, fit)
    return rt.Draw(pi_calibrated(inputs, fit), missed_correction(inputs, fit, q))


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
