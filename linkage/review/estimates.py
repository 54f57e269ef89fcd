"""Design-based estimates from the review labels (stratified simple random sampling).

Each sampled referral the reviewer resolved (a case marked ``match``, or every row
``no_match``) stands for N_h / r_h referrals of its stratum h, where r_h counts the
stratum's resolved referrals: a referral left ``unsure`` is treated as a non-response
missing at random within its stratum, and its weight goes to the stratum's resolved ones
(the counts of unsure referrals are reported). Totals are Horvitz-Thompson, their
variances the stratified formula sum_h N_h^2 (1 - r_h / N_h) s_h^2 / r_h.

* False-link rate: the share of linked referrals whose link is not their case; the
  number of links is known, so the rate is an estimated total over a known one.
* Missed-link rate: the share of referrals that have a case whose case is not linked to
  them: a ratio of two estimated totals (variance by linearisation).
* Review-corrected conversion rate per offense type and stage: the linked rate (known
  for every referral) plus the estimated total of (true - linked) stage indicators over
  the reviewed referrals, divided by the number of eligible referrals (a difference
  estimator: design-unbiased, and as precise as the linkage is good).

The error rates' 95% intervals are Wilson intervals at the effective sample size
p(1 - p) / v; the corrected rates' are normal intervals clipped to [0, 1]. Where no
reviewed referral showed an error (zero variance) the Wilson bound of a share observed as
0 at Kish's effective sample size stands in. A domain every referral of which was
reviewed has no sampling error: its interval is the estimate.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import duckdb
import numpy as np

from linkage.db import build_from_frame, build_table, table_exists
from linkage.errors import ConfigError

STAGES = ("investigation", "arrest", "charge", "conviction")
Z95 = 1.959963984540054


def variance_floor(n_reviewed: float, members: np.ndarray, n_pop: np.ndarray) -> np.ndarray:
    """The least within-stratum variance of a 0/1-scale variable when the review holds
    ``n_reviewed`` referrals in all: that of a share seen as 0 of them (Jeffreys, p = 0.5 /
    (n + 1)), times the domain's share of each stratum (``members`` of ``n_pop``).

    Example:
        >>> variance_floor(499.0, np.array([50.0]), np.array([100.0])).round(6)
        array([0.0005])
    """
    p0 = 0.5 / (float(n_reviewed) + 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n_pop > 0, p0 * (1 - p0) * members / n_pop, 0.0)


def stage_error_scale(share: float) -> float:
    """The chance that one link error changes a referral's indicator of a stage that a
    share ``share`` of cases reach: a referral linked to a case not its own while it has
    none (or missing its own) changes it with chance ``share``; one linked to another's
    case instead of its own, with 2 share (1 - share); the larger. A link error changes
    the investigation indicator (every case is an investigation) for certain, a
    conviction indicator only if the case concerned was a conviction.

    Example:
        >>> stage_error_scale(1.0), round(stage_error_scale(0.3), 6), stage_error_scale(0.0)
        (1.0, 0.42, 0.0)
    """
    c = min(max(float(share), 0.0), 1.0)
    return max(c, 2 * c * (1 - c))


@dataclass(frozen=True)
class ReviewDesign:
    """The frame as arrays: stratum index per referral, N_h, and the resolved sample."""

    stratum: np.ndarray
    n_pop: np.ndarray
    resolved: np.ndarray
    r_h: np.ndarray
    band: np.ndarray | None = None  # each stratum's probability band (strata collapsed)

    def total(self, z: np.ndarray, domain: np.ndarray, *, pool: np.ndarray | None = None,
              scale: float = 1.0) -> tuple[float, float, bool]:
        """HT total of ``z`` over the domain, its variance, and whether the domain was
        reviewed in full (no sampling error).

        ``z`` is on the scale of a 0/1 indicator (an error, a stage reached, or such a
        difference). A stratum whose reviews show no variation - no error, no conversion
        among a few dozen - would claim no sampling error where its unreviewed referrals
        may still hold some. With ``band``, its within-stratum variance is at least its
        band's (``_band_floor``): the pooled within-stratum variance of ``z`` over the
        band's strata of every offense type (``pool``: the units of the domain's kind in
        all of them, default the domain), and at least that of an error seen in none of
        the band's reviews (Jeffreys, p = 0.5 / (r + 1)) times ``scale``, the chance an
        error moves ``z`` by one (``stage_error_scale``). Without ``band``, that of a
        share seen as 0 of the whole review (``variance_floor``)."""
        s1, ss, members = self._sums(z, domain)
        r = self.r_h.astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            weight = np.where(r > 0, self.n_pop / r, 0.0)
            var_h = np.maximum(np.where(r > 1, ss / (r - 1), 0.0),
                               self._floor(z, ss, members, r.sum(), pool, scale))
            v = np.where(r > 0, self.n_pop**2 * (1 - r / self.n_pop) * var_h / r, 0.0)
        in_domain = members > 0
        census = bool(np.all((self.r_h == self.n_pop) | ~in_domain))
        return float((weight * s1).sum()), float(max(v.sum(), 0.0)), census

    def floor(self, z: np.ndarray, domain: np.ndarray, n_reviewed: float, *,
              pool: np.ndarray | None = None, scale: float = 1.0) -> np.ndarray:
        """Each stratum's least within-stratum variance of ``z`` over ``domain`` (see
        ``total``) for a review of ``n_reviewed`` referrals (the planning projection)."""
        _, ss, members = self._sums(z, domain)
        return self._floor(z, ss, members, n_reviewed, pool, scale)

    def _sums(self, z: np.ndarray, domain: np.ndarray) -> tuple[np.ndarray, ...]:
        """Per stratum: the sum of ``z`` over the domain's resolved reviews, their
        within-stratum sum of squares, and the domain's members."""
        zs = np.where(self.resolved & domain, z, 0.0)
        k, r = len(self.n_pop), self.r_h.astype(float)
        s1 = np.bincount(self.stratum, weights=zs, minlength=k)
        s2 = np.bincount(self.stratum, weights=zs**2, minlength=k)
        members = np.bincount(self.stratum, weights=domain.astype(float), minlength=k)
        with np.errstate(divide="ignore", invalid="ignore"):
            ss = np.where(r > 1, s2 - s1**2 / r, 0.0)
        return s1, ss, members

    def _floor(self, z: np.ndarray, ss: np.ndarray, members: np.ndarray,
               n_reviewed: float, pool: np.ndarray | None, scale: float) -> np.ndarray:
        """Each stratum's floor; ``ss`` and ``members`` are ``_sums`` over the domain."""
        if self.band is None:
            return variance_floor(n_reviewed, members, self.n_pop) * scale
        ss_pool, in_pool = (ss, members) if pool is None else self._sums(z, pool)[1:]
        return self._band_floor(ss_pool, in_pool, scale)[self.band] * members / self.n_pop

    def _band_floor(self, ss: np.ndarray, members: np.ndarray, scale: float) -> np.ndarray:
        """Each band's floor (collapsed strata): the pooled within-stratum variance of its
        strata holding ``members``, at least ``scale`` times that of a share seen as 0 of
        their reviews. A band's rare errors (a false link among the near-certain pairs)
        are seen in some of its strata - of one offense type - and stand for all of
        them."""
        band, k, r = self.band, int(self.band.max(initial=-1)) + 1, self.r_h.astype(float)
        inside = members > 0
        df = np.bincount(band, weights=np.maximum(r - 1, 0) * inside, minlength=k)
        pooled = np.bincount(band, weights=ss * inside, minlength=k) / np.maximum(df, 1)
        p0 = 0.5 / (np.bincount(band, weights=r * inside, minlength=k) + 1.0)
        return np.maximum(pooled, scale * p0 * (1 - p0))

    def kish(self, domain: np.ndarray) -> float:
        """Kish's effective sample size (sum w)^2 / sum w^2 of the domain's reviews."""
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(self.r_h > 0, self.n_pop / self.r_h, 0.0)[self.stratum]
        w = w[self.resolved & domain]
        return float(w.sum() ** 2 / (w**2).sum()) if len(w) else 0.0


def end_date(con: duckdb.DuckDBPyConnection) -> dt.date:
    """The latest date in the referrals and case outcomes (the extract date's proxy, as
    the estimators take it when none is given)."""
    row = con.sql(
        "select greatest(max(opened_at), max(arrested_at), max(charged_at),"
        " max(convicted_at), (select max(cast(referred_at as date)) from raw_referrals))"
        " from raw_case_outcomes").fetchall()[0][0]
    if row is None:
        raise ConfigError("cannot infer the study end date: no dates in the data")
    return row


def review_outcomes(con: duckdb.DuckDBPyConnection, follow_up_days: int,
                    end: dt.date | None) -> dict[str, np.ndarray]:
    """One entry per frame referral (by referral_id): stratum, verdict, and the stages its
    link and its true case reached under the censoring rule (``review_outcomes.sql``)."""
    if not table_exists(con, "review_labels"):
        raise ConfigError("the study database holds no review labels: run `linkage review "
                          "import` first")
    build_table(con, "review/review_outcomes.sql",
                {"follow_up_days": int(follow_up_days), "end_date": end or end_date(con)})
    return con.sql("select * from review_outcomes order by referral_id").fetchnumpy()


def review_design(o: dict[str, np.ndarray]) -> ReviewDesign:
    """The stratified design of ``review_outcomes`` (strata: offense type x band)."""
    keys = np.char.add(np.char.add(o["offense_type"].astype(str), "\x1f"),
                       o["band"].astype(str))
    _, stratum = np.unique(keys, return_inverse=True)
    resolved = o["sampled"] & o["resolved"]
    k = stratum.max() + 1 if len(stratum) else 0
    _, band_of_unit = np.unique(o["band"].astype(str), return_inverse=True)
    band = np.zeros(k, dtype=np.int64)
    band[stratum] = band_of_unit
    return ReviewDesign(stratum, np.bincount(stratum, minlength=k).astype(float), resolved,
                        np.bincount(stratum, weights=resolved.astype(float), minlength=k),
                        band)


def _domains(o: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    offense = o["offense_type"].astype(str)
    return [("ALL", np.ones(len(offense), dtype=bool)),
            *((name, offense == name) for name in sorted(set(offense)))]


def wilson(p: float, n_eff: float) -> tuple[float, float]:
    """95% Wilson interval of a proportion at an (effective) sample size.

    Example:
        >>> [round(x, 4) for x in wilson(0.1, 100)]
        [0.0552, 0.1744]
    """
    if n_eff <= 0 or math.isnan(p):
        return (math.nan, math.nan)
    z2 = Z95**2
    centre = (p + z2 / (2 * n_eff)) / (1 + z2 / n_eff)
    half = Z95 * math.sqrt(p * (1 - p) / n_eff + z2 / (4 * n_eff**2)) / (1 + z2 / n_eff)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _rate_ci(p: float, v: float, census: bool, n_kish: float) -> tuple[float, float]:
    if census or math.isnan(p):
        return (p, p)
    n_eff = p * (1 - p) / v if v > 0 and 0 < p < 1 else n_kish
    return wilson(p, n_eff)


def review_error_rates(con: duckdb.DuckDBPyConnection, *, publish: bool = False):
    """False- and missed-link rates from the review labels, per offense type and ALL.

    Returns a pandas DataFrame (offense_type, rate, estimate, ci_low, ci_high,
    n_population, n_reviewed, n_errors, n_unsure, method); with ``publish`` also the
    table ``review_error_rates``.

    Raises:
        ConfigError: no review labels in the database.

    Example:
        >>> review_error_rates(con)  # doctest: +SKIP
    """
    import pandas as pd

    o = review_outcomes(con, 0, None)  # the error rates need no censoring
    d = review_design(o)
    linked, has_true, correct = o["is_linked"], o["has_true_case"], o["link_correct"]
    unsure = o["sampled"] & ~o["resolved"]
    everyone = np.ones(len(linked), dtype=bool)
    rows = []
    for name, dom in _domains(o):
        n_links = float((linked & dom).sum())
        # a band's variance pools the reviews of every offense type (collapsed strata)
        y, v, census = d.total((linked & ~correct).astype(float), dom & linked, pool=linked)
        p = y / n_links if n_links else math.nan
        rows.append(_row(name, "false_link", p, v / n_links**2 if n_links else 0.0, census,
                         n_links, d, dom & linked, linked & ~correct, unsure))
        missed = (has_true & ~correct).astype(float)
        x_hat, _, _ = d.total(has_true.astype(float), dom)
        y_hat, _, census = d.total(missed, dom)
        r = y_hat / x_hat if x_hat else math.nan
        z = missed - (0 if math.isnan(r) else r) * has_true  # linearised, on a 0/1 scale
        _, v_z, _ = d.total(z, dom, pool=everyone)
        v_r = v_z / x_hat**2 if x_hat else v_z
        rows.append(_row(name, "missed_link", r, v_r, census, x_hat, d, dom & has_true,
                         has_true & ~correct, unsure & dom))
    frame = pd.DataFrame(rows)
    if publish:
        build_from_frame(con, "review/review_error_rates.sql", "review_error_rates_input",
                         frame)
    return frame


def _row(name: str, rate: str, p: float, v: float, census: bool, n_population: float,
         d: ReviewDesign, units: np.ndarray, errors: np.ndarray, unsure: np.ndarray) -> dict:
    n_units = int((d.resolved & units).sum())
    low, high = _rate_ci(p, v, census, d.kish(units))
    return {"offense_type": name, "rate": rate, "estimate": p, "ci_low": low,
            "ci_high": high, "n_population": n_population, "n_reviewed": n_units,
            "n_errors": int((d.resolved & units & errors).sum()),
            "n_unsure": int(unsure.sum()), "method": "review"}


def corrected_ci(p: float, v: float, census: bool, n_kish: float) -> tuple[float, float]:
    """Normal interval of a corrected rate; where no reviewed referral differed from its
    link (zero variance without a census) the half-width is the Wilson upper bound of a
    share of differing referrals observed as 0 at the effective sample size."""
    if census or math.isnan(p):
        return (p, p)
    half = Z95 * math.sqrt(v) if v > 0 else wilson(0.0, n_kish)[1]
    if math.isnan(half):
        half = 1.0
    return (max(0.0, p - half), min(1.0, p + half))


def review_conversion_rates(con: duckdb.DuckDBPyConnection, *, follow_up_days: int = 365,
                            end: dt.date | None = None, publish: bool = False):
    """Review-corrected cumulative conversion rates per offense type (and ALL) and stage.

    ``follow_up_days`` and ``end`` are the estimators' censoring rule (a stage counts when
    reached within that many days of a referral at least that old at ``end``; ``end``
    defaults to the latest date in the data). Returns a pandas DataFrame (offense_type,
    stage, stage_order, n_referrals, n_reviewed, linked_estimate, estimate, ci_low, ci_high,
    method); with ``publish`` also the table ``review_conversion_rates``.

    Raises:
        ConfigError: no review labels in the database.

    Example:
        >>> review_conversion_rates(con, follow_up_days=365)  # doctest: +SKIP
    """
    import pandas as pd

    o = review_outcomes(con, follow_up_days, end)
    d = review_design(o)
    eligible = o["eligible"]
    rows = []
    for name, dom in _domains(o):
        dom_e = dom & eligible
        n = float(dom_e.sum())
        cases = float((o["link_investigation"] & dom_e).sum())
        for order, stage in enumerate(STAGES):
            link = o[f"link_{stage}"] & dom_e
            diff = (o[f"true_{stage}"].astype(float) - o[f"link_{stage}"]) * eligible
            scale = stage_error_scale(float(link.sum()) / cases) if cases else 1.0
            correction, v, census = d.total(diff, dom_e, pool=eligible, scale=scale)
            linked = float(link.sum()) / n if n else math.nan
            p = (float(link.sum()) + correction) / n if n else math.nan
            low, high = corrected_ci(p, v / n**2 if n else math.nan, census, d.kish(dom_e))
            rows.append({"offense_type": name, "stage": stage, "stage_order": order,
                         "n_referrals": int(n), "n_reviewed": int((d.resolved & dom_e).sum()),
                         "linked_estimate": linked, "estimate": p, "ci_low": low,
                         "ci_high": high, "method": "review_corrected"})
    frame = pd.DataFrame(rows)
    if publish:
        build_from_frame(con, "review/review_conversion_rates.sql",
                         "review_conversion_rates_input", frame)
    return frame


def publish_review_rates(con: duckdb.DuckDBPyConnection, *, follow_up_days: int = 365,
                         end: dt.date | None = None):
    """Build ``review_error_rates`` and ``review_conversion_rates``; return both frames.

    Example:
        >>> errors, rates = publish_review_rates(con)  # doctest: +SKIP
    """
    errors = review_error_rates(con, publish=True)
    rates = review_conversion_rates(con, follow_up_days=follow_up_days, end=end,
                                    publish=True)
    return errors, rates


def format_review_rates(errors, rates) -> str:
    """The overall (ALL) error and corrected rates as a few lines of text (counts and
    rates only).

    Example:
        >>> print(format_review_rates(errors, rates))  # doctest: +SKIP
    """
    lines = []
    for row in errors[errors["offense_type"] == "ALL"].itertuples():
        lines.append(f"{row.rate.replace('_', '-')} rate {row.estimate:.4f} "
                     f"[{row.ci_low:.4f}, {row.ci_high:.4f}] from {row.n_reviewed:,} "
                     f"reviewed ({row.n_errors:,} errors, {row.n_unsure:,} unsure)")
    for row in rates[rates["offense_type"] == "ALL"].itertuples():
        lines.append(f"{row.stage:<13} linked {row.linked_estimate:.4f}  corrected "
                     f"{row.estimate:.4f} [{row.ci_low:.4f}, {row.ci_high:.4f}]")
    return "\n".join(lines)


def review_weights(con: duckdb.DuckDBPyConnection):
    """Each sampled referral's design weight and verdict, for an estimator that combines
    the review with other labels: referral_id, review_id, offense_type, band, resolved,
    true_case_id (None = no case, or unresolved) and weight = N_h / r_h (0 when
    unresolved), as a pandas DataFrame. The weights of a stratum's resolved referrals add
    up to its size.

    Raises:
        ConfigError: no review labels in the database.

    Example:
        >>> review_weights(con).groupby("band")["weight"].sum()  # doctest: +SKIP
    """
    if not table_exists(con, "review_labels"):
        raise ConfigError("the study database holds no review labels: run `linkage review "
                          "import` first")
    return con.sql("""
        with verdicts as (
            select review_id, referral_id, offense_type, band,
                min(case when decision = 'match' then case_id end) as true_case_id,
                bool_or(decision = 'match') or not bool_or(decision = 'unsure') as resolved
            from review_labels group by all
        ),
        counts as (
            select v.*, s.n_population,
                count(*) filter (where v.resolved)
                    over (partition by v.offense_type, v.band) as n_resolved
            from verdicts as v
            join review_strata as s using (offense_type, band)
        )
        select referral_id, review_id, offense_type, band, resolved, true_case_id,
            case when resolved then n_population / n_resolved else 0 end as weight
        from counts
        order by review_id
    """).df()
