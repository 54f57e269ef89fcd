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

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from linkage import pipeline
from linkage.db import build_table
from linkage.defaults import DEFAULT_SEED
from linkage.errors import ConfigError
from linkage.estimation import disclosure
from linkage.estimation import rates as rt
from linkage.estimation.bounds import SIBLING_SHARE_RANGE, with_bounds
from linkage.estimation.calibration import (
    SIBLING_SHARE,
    CalibrationFit,
    fit_calibration,
    link_probabilities,
    pair_weights,
    refine,
)
from linkage.estimation.correction import (
    correction_spread,
    missed_correction,
    missed_leads_draw,
    missed_table,
    primary_draw,
)
from linkage.estimation.imputation import mi_table
from linkage.estimation.intervals import Draw, method_table
from linkage.estimation.process import with_process_intervals
from linkage.estimation.reviewed import ASSUMPTION as REVIEWED_ASSUMPTION
from linkage.estimation.reviewed import METHOD as REVIEWED
from linkage.estimation.reviewed import reviewed_inputs, reviewed_table
from linkage.estimation.sensitivity import threshold_sensitivity
from linkage.estimation.simple import (
    per_referral,
    pi_deterministic,
    pi_threshold,
    pi_weighted,
)
from linkage.estimation.survival import (
    DEFAULT_HORIZONS,
    HorizonDraws,
    horizon_frame,
    horizon_grid,
    parse_horizons,
)
from linkage.estimation.truth import truth_comparison
from linkage.review.estimates import review_error_rates
from linkage.review.labels import has_labels
from linkage.summaries import EstimateFacts

log = logging.getLogger(__name__)

METHODS: tuple[str, ...] = ("deterministic", "threshold", "weighted", "calibrated", "imputed")
PRIMARY = "calibrated"
DEFAULT_N_BOOT = 200
PRIMARY_DESCRIPTION = (
    "Splink probabilities recalibrated on the cybertip_ref audit sample (isotonic fit of "
    "P(true pair | match probability) on the candidates of cases recording a tip number), "
    "moved by Bayes to each offense type's prior odds of a link, and multiplied by the "
    "chance that the case is a referral case at all given its best candidate; a repeat "
    "referral of a case's subject to the same agency (sibling) gets the case's best "
    "probability x P(same person) x the repeat-referral share sibling_share (not "
    "identifiable: the row's assumption, with bounds over 0-1 and a tipping point); "
    "probabilities normalised to <= 1 per referral. Then a Horvitz-Thompson difference "
    "estimator on the audit sample: each audit case stands for 1 / p referral cases, p the "
    "recording probability of its agency x outcome (arrest or not) cell, estimated from "
    "the observed flag among cases whose best candidate is >= 0.7 and shrunk across "
    "agencies by a beta-binomial prior fitted to the data; what the model gets wrong on it "
    "(missed, under-scored or false links) is added 1 / p - 1 more times, and each audit "
    "link blocking never proposed also stands for the repeat referrals missed with it. "
    "Assumes that within a cell, recording does not depend on the referral's identifiers. "
    "95% CI for these referrals (linkage uncertainty only): bootstrap over audit cases "
    "(everything refitted; rare blocking misses from a Jeffreys posterior; a pooled "
    "variance floor per offense type) x one imputation of every referral's outcome, "
    "percentiles; process_ci_* add referral sampling. Coverage and bias per shipped world: "
    "docs/simulation.md"
)
METHOD_DESCRIPTIONS: dict[str, str] = {
    "deterministic": "cybertip_ref join only; unmatched referrals count as unconverted; "
    "Wilson CI treating the links as true",
    "threshold": "best Splink link per referral above the threshold; Wilson CI treating "
    "the links as true",
    "weighted": "sum of Splink match probability x stage over candidate cases (normalised "
    "to <= 1 per referral); CI from imputing outcomes from those probabilities",
    "calibrated": PRIMARY_DESCRIPTION,
    "imputed": "multiple imputation of links (Goldstein, Harron and Wade 2012): 20 "
    "completed data sets, each referral's link drawn from the primary's link probabilities "
    "(no audit correction), combined by Rubin's rules; t interval for the process "
    "(linkage and referral sampling)",
    "reviewed": "with clerical review labels: the primary's per-referral expected stages "
    "corrected by the review sample's design (difference estimator, weights N_h / r_h per "
    "offense type x match-probability band); design-unbiased whatever the audit's "
    "recording or the repeat-referral share; 95% CI for these referrals from the "
    "stratified design variance of the residuals (finite-population correction)",
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
    min_numerator: int = disclosure.MIN_NUMERATOR
    min_denominator: int = disclosure.MIN_DENOMINATOR

    def facts(self) -> EstimateFacts:
        """The settings and counts the report and the manifest record."""
        return EstimateFacts(
            primary=self.primary, n_referrals=self.n_referrals, n_eligible=self.n_eligible,
            censoring=self.censoring, follow_up_days=self.follow_up_days,
            n_audit_links=self.n_audit_links, audit_missed_share=self.audit_missed_share,
            min_numerator=self.min_numerator, min_denominator=self.min_denominator)


def estimate(
    con: duckdb.DuckDBPyConnection,
    *,
    seed: int = DEFAULT_SEED,
    n_boot: int = DEFAULT_N_BOOT,
    threshold: float | None = None,
    primary: str | None = None,
    suppress_below: int = disclosure.MIN_NUMERATOR,
    min_denominator: int = disclosure.MIN_DENOMINATOR,
    follow_up_days: int = rt.DEFAULT_FOLLOW_UP_DAYS,
    end_date: dt.date | None = None,
    sibling_share: float | None = None,
    sibling_share_range: tuple[float, float] | None = None,
    horizons: Sequence[int] | str = DEFAULT_HORIZONS,
    comparisons: bool = True,
    dimensions: Sequence[str] = rt.STRATA, companions: bool = True,
) -> EstimateSummary:
    """Estimate conversion rates with every method; write ``conversion_rates`` and companions.

    Args:
        con: study database after linkage (``raw_*``, ``scored_pairs``, ``links``).
        seed: seed of every random draw (same seed, same estimates).
        n_boot: bootstrap/imputation replicates of the interval draws.
        threshold: link threshold of the ``threshold`` method (None = the ``links`` table).
        primary: the method marked ``is_primary`` (None = ``reviewed`` when the database
            holds review labels, else ``calibrated``).
        suppress_below: minimum numerator of a published cell (0 = no suppression).
        min_denominator: minimum denominator of a published cell (0 = none).
        follow_up_days: the censoring rule's window (see :mod:`linkage.estimation.rates`).
        end_date: the study end (extract) date; None = the latest case-outcome date.
        sibling_share: assumed share of a case subject's other referrals to the same
            agency that belong to the case (None = ``SIBLING_SHARE``): not identifiable,
            so bounds over ``sibling_share_range`` (None = 0-1) (``estimation.bounds``).
        horizons: days of ``conversion_rates_horizons`` (plus the longest supported).
        comparisons: also build what the report reads beside the primary estimate: the
            threshold estimator at other thresholds and, on synthetic data, the truth
            (``conversion_rates_threshold``, ``conversion_rates_truth``).
        dimensions: strata estimated (with offense_type; the others' estimates do not
            change); ``companions`` False writes ``conversion_rates`` (and cells) only.

    Raises:
        ConfigError: unknown ``primary`` (or ``reviewed`` without review labels),
            ``n_boot`` < 1 or a negative window.

    Example:
        >>> from linkage.db import connect
        >>> summary = estimate(connect("study.duckdb"), seed=1)  # doctest: +SKIP
        >>> summary.headline["arrest"]  # doctest: +SKIP
        0.0143
    """
    primary, t0 = primary or (REVIEWED if has_labels(con) else PRIMARY), time.perf_counter()
    _check_options(primary, n_boot, follow_up_days, dimensions, horizons, has_labels(con))
    censoring = rt.Censoring(end_date or rt.infer_end_date(con), follow_up_days)
    inputs = rt.load_inputs(con, censoring)
    review = reviewed_inputs(con, inputs, censoring)
    rng = np.random.default_rng(seed)
    share = SIBLING_SHARE if sibling_share is None else float(sibling_share)
    fit = _point_fit(inputs, share)
    # the horizons' draws ride on the primary's refits, with a stream of their own
    grid = horizon_grid(inputs, parse_horizons(horizons))
    horizon_draws = HorizonDraws(inputs, grid, np.random.default_rng([seed, 1]))
    table = _all_methods(con, inputs, fit, rng, review, threshold=threshold, n_boot=n_boot,
                         sibling_share=share, dimensions=dimensions,
                         share_range=sibling_share_range or SIBLING_SHARE_RANGE,
                         on_primary_draw=horizon_draws.add)
    table = table.assign(is_primary=table["method"] == primary,
                         follow_up_days=follow_up_days, horizon_days=follow_up_days,
                         censoring=censoring.describe())
    published = disclosure.suppress(table, min_numerator=suppress_below,
                                    min_denominator=min_denominator)
    methods = tuple(m for m in (*METHODS, REVIEWED) if m in set(table["method"]))
    tables = _write(con, published, inputs, fit, primary, methods, censoring, companions,
                    horizon_frame(inputs, fit, grid, horizon_draws, suppress_below))
    if comparisons:
        tables += _comparisons(con, censoring, suppress_below, min_denominator)
    summary = _summary(table, inputs, fit, primary, methods, censoring, tables,
                       time.perf_counter() - t0, suppress_below, min_denominator)
    log.info("estimated %d methods over %d eligible referrals in %.1f s",
             len(summary.methods), summary.n_eligible, summary.seconds)
    return summary


def _summary(table: pd.DataFrame, inputs: rt.RateInputs, fit: CalibrationFit, primary: str,
             methods: tuple[str, ...], censoring: rt.Censoring, tables: tuple[str, ...],
             seconds: float, suppress_below: int, min_denominator: int) -> EstimateSummary:
    """The ``EstimateSummary`` of an estimate: counts, settings and the ALL headline."""
    allrow = table[(table.method == primary) & (table.stratum == "ALL")
                   & (table.dimension == "offense_type") & (table.rate_kind == "cumulative")]
    return EstimateSummary(
        primary=primary, methods=methods, n_referrals=inputs.n_referrals,
        n_eligible=int(inputs.eligible.sum()), censoring=censoring.describe(),
        n_audit_links=fit.n_audit_links, audit_missed_share=fit.audit_missed_share,
        follow_up_days=censoring.follow_up_days,
        headline=dict(zip(allrow["stage"], allrow["estimate"].astype(float), strict=True)),
        tables=tables, seconds=round(seconds, 3),
        min_numerator=suppress_below, min_denominator=min_denominator)


def _check_options(primary: str, n_boot: int, follow_up_days: int,
                   dimensions: Sequence[str], horizons: Sequence[int] | str = (365,),
                   labels: bool = False) -> None:
    parse_horizons(horizons)
    if primary == REVIEWED and not labels:
        raise ConfigError("primary reviewed needs review labels: run `linkage review import` "
                          "first")
    if primary not in (*METHODS, REVIEWED):
        raise ConfigError(f"primary must be one of {', '.join((*METHODS, REVIEWED))}, got "
                          f"{primary!r}")
    if n_boot < 1 or follow_up_days < 0:
        raise ConfigError("n_boot must be >= 1 and follow_up_days >= 0")
    if "offense_type" not in dimensions or not set(dimensions) <= set(rt.STRATA):
        raise ConfigError(f"dimensions must include offense_type and be among "
                          f"{', '.join(rt.STRATA)}, got {list(dimensions)}")


def _point_fit(inputs: rt.RateInputs, share: float) -> CalibrationFit:
    """The primary's point fit (the calibration and correction of the estimate itself)."""
    fit = refine(inputs, fit_calibration(inputs, sibling_share=share))
    if fit.n_audit_links == 0:
        log.warning("no cybertip_ref audit links: no calibration, no missed-link correction")
    return fit


def _all_methods(con: duckdb.DuckDBPyConnection, inputs: rt.RateInputs, fit: CalibrationFit,
                 rng: np.random.Generator, review: tuple | None, *, sibling_share: float,
                 share_range: tuple[float, float], dimensions: Sequence[str],
                 **kw: Any) -> pd.DataFrame:
    """Every method's rows (``reviewed`` with review labels), the primary's sensitivity
    bounds and the process intervals; ``kw`` goes to ``_method_tables``."""
    table = _method_tables(con, inputs, fit, rng, sibling_share=sibling_share,
                           dimensions=dimensions, **kw)
    if review is not None:
        table = pd.concat([table, reviewed_table(inputs, primary_draw(inputs, fit), review,
                                                 dimensions)], ignore_index=True)
    return with_process_intervals(_reviewed_bounds(with_bounds(
        table, inputs, PRIMARY, sibling_share, rng, dimensions, share_range=share_range)))


def _reviewed_bounds(table: pd.DataFrame) -> pd.DataFrame:
    """The ``reviewed`` rows' assumption; it has no unidentified parameter, so its bounds
    are its interval."""
    out = table.copy()
    is_r = (out["method"] == REVIEWED).to_numpy()
    out.loc[is_r, "assumption"] = REVIEWED_ASSUMPTION
    out.loc[is_r, "bound_low"] = out.loc[is_r, "ci_low"]
    out.loc[is_r, "bound_high"] = out.loc[is_r, "ci_high"]
    return out


def _comparisons(con: duckdb.DuckDBPyConnection, censoring: rt.Censoring,
                 suppress_below: int, min_denominator: int) -> tuple[str, ...]:
    """What the report reads beside the primary: the threshold estimator at other
    thresholds and, with truth, the true rates, on the estimators' own censoring."""
    threshold_sensitivity(con, end_date=censoring.end_date,
                          follow_up_days=censoring.follow_up_days,
                          suppress_below=suppress_below, min_denominator=min_denominator)
    return ("threshold_cells", "conversion_rates_threshold",
            *truth_comparison(con, censoring.follow_up_days))


def _method_tables(con: duckdb.DuckDBPyConnection, inputs: rt.RateInputs,
                   fit: CalibrationFit, rng: np.random.Generator, *, threshold: float | None,
                   n_boot: int, sibling_share: float,
                   dimensions: Sequence[str] = rt.STRATA,
                   on_primary_draw: Callable[[np.ndarray, Draw], None] | None = None,
                   ) -> pd.DataFrame:
    """Every method's rates with intervals, one frame (cells x methods);
    ``on_primary_draw(pair_weights, draw)`` sees each of the primary's replicates."""
    pis = {
        "deterministic": Draw(pi_deterministic(inputs)),
        "threshold": Draw(pi_threshold(
            inputs, None if threshold is None else rt.link_mask(con, threshold))),
        "weighted": Draw(pi_weighted(inputs)),
        "calibrated": primary_draw(inputs, fit),
    }
    spread = correction_spread(inputs, fit)

    def draw_primary() -> Draw:
        boot = refine(inputs, fit_calibration(inputs, rng=rng, sibling_share=sibling_share),
                      iterations=2)
        q = link_probabilities(inputs, boot)
        weights = pair_weights(inputs, boot)
        pi = per_referral(inputs, weights)  # = pi_calibrated(inputs, boot)
        extra = (missed_correction(inputs, boot, q, missed_leads=False)
                 + missed_leads_draw(inputs, boot, q, pi, rng)
                 + spread.draw(rng))
        if on_primary_draw is not None:
            on_primary_draw(weights, Draw(pi, extra))
        return Draw(pi, extra)

    draws = {"weighted": (lambda: pis["weighted"]), "calibrated": draw_primary}
    frames = [
        method_table(inputs, name, pis[name], draws.get(name), n_boot, rng,
                     dimensions=dimensions)
        for name in METHODS if name in pis
    ]
    frames.append(mi_table(inputs, pair_weights(inputs, fit), rng, dimensions))
    return pd.concat(frames, ignore_index=True)


def _write(con: duckdb.DuckDBPyConnection, published: pd.DataFrame, inputs: rt.RateInputs,
           fit: CalibrationFit, primary: str, methods: tuple[str, ...],
           censoring: rt.Censoring,
           companions: bool = True, horizons: pd.DataFrame | None = None) -> tuple[str, ...]:
    """Write the estimation tables in run order, each from its SQL file; the estimators'
    numpy output reaches them as registered frames. Without ``companions`` only the cells
    and ``conversion_rates``."""
    if not companions:  # the cells, conversion_rates and the horizons only
        con.register("rates_estimates_input", published)
        con.register("rates_horizons_input", horizons)
        try:
            return tuple(build_table(con, step.file) for step in
                         (*pipeline.ESTIMATION[:2], pipeline.ESTIMATION[-1]))
        finally:
            con.unregister("rates_estimates_input")
            con.unregister("rates_horizons_input")
    methods = pd.DataFrame({
        "method": list(methods),
        "is_primary": [m == primary for m in methods],
        "description": [METHOD_DESCRIPTIONS[m] for m in methods],
        "censoring": censoring.describe(),
    })
    views = {
        "rates_estimates_input": published,
        "rates_methods_input": methods,
        "rates_calibration_input": fit.calibration_table(),
        "rates_missed_links_input": missed_table(inputs, fit),
        "rates_horizons_input": horizons,
    }
    for name, frame in views.items():
        con.register(name, frame)
    try:
        built = tuple(build_table(con, step.file) for step in pipeline.ESTIMATION)
    finally:
        for name in views:
            con.unregister(name)
    if has_labels(con):  # the review's error rates beside the label-free and audit ones
        review_error_rates(con, publish=True)
        built += ("review_error_rates",)
    return built
