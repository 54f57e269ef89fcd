"""Two intervals, named for what they mean.

* **For these referrals** (``ci_low`` / ``ci_high`` of the imputation methods): the share
  of *these* referrals that reached a stage is a fixed number we do not see exactly
  because the links are uncertain; the interval holds linkage uncertainty only (a
  finite-population interval). It is what the methodology simulation scores.
* **For the process** (``process_ci_low`` / ``process_ci_high``): the rate of the process
  that produced the referrals, of which these are one draw, adds referral sampling: the
  binomial variance p (1 - p) / n of a share of n referrals (or of the previous stage's
  expected count, for a conditional rate) added to the linkage variance read off the first
  interval (its width / (2 x 1.96)), normal interval clipped to [0, 1].

Methods that take links as true (Wilson intervals) have only the process interval.

Example:
    >>> import pandas as pd
    >>> t = pd.DataFrame({"method": ["weighted"], "estimate": [0.5], "ci_low": [0.5],
    ...                   "ci_high": [0.5], "denominator": [100.0]})
    >>> with_process_intervals(t)[["process_ci_low", "process_ci_high"]].round(4).values
    array([[0.402, 0.598]])
"""

from __future__ import annotations

import numpy as np
import pandas as pd

Z = 1.959964
IMPUTED = ("weighted", "calibrated", "reviewed")
"""Methods whose ``ci_*`` hold linkage uncertainty only (for these referrals)."""
FOR_THESE = "for these referrals (linkage uncertainty only)"
FOR_PROCESS = "for the process (links taken as true; referral sampling only)"
FOR_PROCESS_MI = "for the process (linkage and referral sampling; Rubin's rules)"


def with_process_intervals(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with ``interval`` (what ``ci_*`` mean) and the process interval columns."""
    out = table.copy()
    imputed = out["method"].isin(IMPUTED).to_numpy()
    p = out["estimate"].to_numpy(dtype=float)
    n = out["denominator"].to_numpy(dtype=float)
    lo, hi = out["ci_low"].to_numpy(dtype=float), out["ci_high"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        se_link = (hi - lo) / (2 * Z)
        se = np.sqrt(se_link ** 2 + np.where(n > 0, p * (1 - p) / n, np.nan))
    out["interval"] = np.where(imputed, FOR_THESE, np.where(
        out["method"] == "imputed", FOR_PROCESS_MI, FOR_PROCESS))
    out["process_ci_low"] = np.where(imputed, np.fmin(np.clip(p - Z * se, 0, 1), lo), lo)
    out["process_ci_high"] = np.where(imputed, np.fmax(np.clip(p + Z * se, 0, 1), hi), hi)
    return out
