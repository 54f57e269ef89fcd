"""What the data cannot tell, as named sensitivity parameters reported as bounds.

The audit sample records one tip per case, so it cannot tell what happens to a suspect's
*repeat* referrals to the same agency: they may join the case opened on the first one,
open a case of their own (then they are linked to it like any referral), or be declined.
The primary estimator takes a share ``sibling_share`` of them to join the case. The data
does not identify it, so it is a sensitivity parameter with a range
(``SIBLING_SHARE_RANGE``): every primary row carries the point estimate at the assumed
value, the estimates at the ends of the range, the sensitivity bounds (the headline
interval moved to each end: the union of the intervals over the range, each taken as wide
as the headline one) and the tipping point (how far the share must be off to move the
rate by one percentage point; null when no value in the range does).

Example:
    >>> tipping_point(np.array([0.10, 0.20]), np.array([0.12, 0.205]), 1.0)
    array([0.5, nan])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from linkage.estimation import rates as rt
from linkage.estimation.calibration import fit_calibration, refine
from linkage.estimation.correction import primary_draw
from linkage.estimation.intervals import method_table

SIBLING_SHARE_RANGE = (0.0, 1.0)
"""Range of the repeat-referral share: none to all of a subject's repeat referrals to an
agency join the case opened on the first (the rest open their own or are declined)."""
PARAMETER = "sibling_share"
ONE_POINT = 0.01
"""The tipping point's move of the rate: one percentage point."""
KEYS = ["dimension", "stratum", "stage", "rate_kind"]


def tipping_point(low: np.ndarray, high: np.ndarray, width: float) -> np.ndarray:
    """Change of the parameter that moves the rate by ``ONE_POINT``, linearly between the
    estimates at the ends of a range ``width`` wide; NaN when the whole range moves it less.
    """
    slope = np.abs(np.asarray(high, float) - np.asarray(low, float)) / width
    with np.errstate(divide="ignore", invalid="ignore"):
        step = ONE_POINT / slope
    return np.where(step <= width, np.round(step, 6), np.nan)


def assumption_text(share: float, share_range: tuple[float, float]) -> str:
    """The primary row's assumption in words."""
    return (f"{PARAMETER} = {share:g} (range {share_range[0]:g}-{share_range[1]:g}): the "
            "share of a case subject's repeat referrals to the same agency that join the "
            "case (not identifiable from the audit sample)")


def with_bounds(table: pd.DataFrame, inputs: rt.RateInputs, primary: str, share: float,
                rng: np.random.Generator, dimensions: Sequence[str],
                share_range: tuple[float, float] = SIBLING_SHARE_RANGE) -> pd.DataFrame:
    """``table`` with the sensitivity columns filled on the ``primary`` (calibrated) rows.

    Columns: ``assumption``, ``estimate_at_low`` / ``estimate_at_high`` (the point estimate
    at the ends of the range), ``bound_low`` / ``bound_high`` (sensitivity bounds, always
    holding the point and its interval) and ``tipping_point``.
    """
    lo, hi = share_range
    ends = []
    for value in (lo, hi):  # two refits, no interval draws
        fit = refine(inputs, fit_calibration(inputs, sibling_share=value))
        t = method_table(inputs, primary, primary_draw(inputs, fit), None, 1, rng,
                         dimensions=dimensions)
        ends.append(t.set_index(KEYS)["estimate"])
    out = table.copy()
    is_p = (out["method"] == primary).to_numpy()
    idx = pd.MultiIndex.from_frame(out.loc[is_p, KEYS])
    e_lo = ends[0].reindex(idx).to_numpy(dtype=float)
    e_hi = ends[1].reindex(idx).to_numpy(dtype=float)
    est = out.loc[is_p, "estimate"].to_numpy(dtype=float)
    low_shift = np.fmin(np.fmin(e_lo, e_hi), est) - est
    high_shift = np.fmax(np.fmax(e_lo, e_hi), est) - est
    for col in ("estimate_at_low", "estimate_at_high", "bound_low", "bound_high",
                "tipping_point"):
        out[col] = np.nan
    out["assumption"] = None
    out.loc[is_p, "assumption"] = assumption_text(share, share_range)
    out.loc[is_p, "estimate_at_low"] = e_lo
    out.loc[is_p, "estimate_at_high"] = e_hi
    out.loc[is_p, "bound_low"] = np.clip(
        out.loc[is_p, "ci_low"].to_numpy(dtype=float) + low_shift, 0.0, 1.0)
    out.loc[is_p, "bound_high"] = np.clip(
        out.loc[is_p, "ci_high"].to_numpy(dtype=float) + high_shift, 0.0, 1.0)
    out.loc[is_p, "tipping_point"] = tipping_point(e_lo, e_hi, hi - lo)
    return out
