"""Review planning: how many referrals to review for a given precision of each rate.

From a pilot review (the labels in the database), the within-stratum variance s_h^2 of
each corrected rate's error term (eligible x (true stage - linked stage)) is estimated per
stratum; the half-width of the 95% interval at another review size n is then projected
under the same design (the sample allocated as ``linkage review sample`` would allocate n):
1.96 x sqrt(sum_h N_h^2 (1 - n_h / N_h) s_h^2 / n_h) / N_domain. A stratum the pilot
reviewed fewer than twice borrows the largest s_h^2 of its offense type (conservative).
The projection is only as good as the pilot's variance estimates: plan with it, then check
the interval the real review gives.

Example:
    >>> plan_review(con, sizes=(200, 500, 1000))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np

from linkage.review import design
from linkage.review.estimates import (
    STAGES,
    Z95,
    _domains,
    review_design,
    review_outcomes,
    stage_error_scale,
)


def _stratum_variances(z: np.ndarray, d, offense_of_stratum: np.ndarray) -> np.ndarray:
    k = len(d.n_pop)
    zs = np.where(d.resolved, z, 0.0)
    s1 = np.bincount(d.stratum, weights=zs, minlength=k)
    s2 = np.bincount(d.stratum, weights=zs**2, minlength=k)
    r = d.r_h
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(r > 1, (s2 - s1**2 / np.maximum(r, 1)) / (r - 1), np.nan)
    for offense in np.unique(offense_of_stratum):  # borrow within the offense type
        mine = offense_of_stratum == offense
        known = var[mine & ~np.isnan(var)]
        var[mine & np.isnan(var)] = known.max() if len(known) else 0.25
    return np.maximum(var, 0.0)


def plan_review(con: duckdb.DuckDBPyConnection, *, sizes: Sequence[int] = (
        200, 500, 1000, 2000), follow_up_days: int = 365, end=None):
    """Projected 95% half-width of every corrected rate (offense type and ALL x stage) at
    each review size, from the pilot labels, as a pandas DataFrame (offense_type, stage,
    n_review, half_width).

    Raises:
        ConfigError: no review labels in the database.
    """
    import pandas as pd

    o = review_outcomes(con, follow_up_days, end)
    d = review_design(o)
    offense = o["offense_type"].astype(str)
    first = np.zeros(len(d.n_pop), dtype=int)
    first[d.stratum[::-1]] = np.arange(len(offense))[::-1]  # one member per stratum
    offense_h = offense[first]
    strata = con.sql("select offense_type, band, score from review_strata"
                     " order by offense_type, band").fetchall()
    score = {(s[0], s[1]): s[2] for s in strata}
    band_h = o["band"].astype(str)[first]
    scores = [score.get((a, b), 0.0) for a, b in zip(offense_h, band_h, strict=True)]
    rows = []
    for n in sizes:
        n_h = np.asarray(design.allocate(d.n_pop.astype(int).tolist(), scores, int(n)),
                         dtype=float)
        for name, dom in _domains(o):
            dom_e = dom & o["eligible"]
            n_dom = float(dom_e.sum())
            cases = float((o["link_investigation"] & dom_e).sum())
            for stage in STAGES:
                z = (o[f"true_{stage}"].astype(float) - o[f"link_{stage}"]) * o["eligible"]
                share = float((o[f"link_{stage}"] & dom_e).sum()) / cases if cases else 1.0
                s2 = np.maximum(_stratum_variances(z * dom_e, d, offense_h),
                                d.floor(z, dom_e, n_h.sum(), pool=o["eligible"],
                                        scale=stage_error_scale(share)))
                with np.errstate(divide="ignore", invalid="ignore"):
                    v = np.where(n_h > 0, d.n_pop**2 * (1 - n_h / d.n_pop) * s2 / n_h, 0.0)
                half = Z95 * float(np.sqrt(v.sum())) / n_dom if n_dom else float("nan")
                rows.append({"offense_type": name, "stage": stage, "n_review": int(n),
                             "half_width": half})
    return pd.DataFrame(rows)


def format_plan(table) -> str:
    """The ALL rows of ``plan_review`` as text: one line per review size, the projected
    half-width of each stage's corrected rate in percentage points.

    Example:
        >>> import pandas as pd
        >>> print(format_plan(pd.DataFrame({"offense_type": ["ALL"], "stage": ["arrest"],
        ...                                 "n_review": [500], "half_width": [0.012]})))
        review size  arrest (+/- pp)
                500             1.20
    """
    overall = table[table["offense_type"] == "ALL"]
    wide = overall.pivot(index="n_review", columns="stage", values="half_width")
    stages = [s for s in STAGES if s in wide.columns]
    head = "review size  " + "  ".join(f"{s} (+/- pp)" for s in stages)
    lines = [head]
    for n, row in wide.iterrows():
        cells = "  ".join(f"{row[s] * 100:>{len(s) + 9}.2f}" for s in stages)
        lines.append(f"{n:>11}  {cells}")
    return "\n".join(lines)
