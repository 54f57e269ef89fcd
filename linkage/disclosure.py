"""Small-cell suppression (statistical disclosure control) for published rate tables.

A published cell is suppressed - its estimate and interval set to null and ``suppressed``
set true - when it rests on fewer than ``MIN_DENOMINATOR`` referrals or its numerator
(rounded expected count) is below ``MIN_NUMERATOR``. Secondary suppression then protects
the suppressed cells against recovery by subtraction: within each group of cells that add
up to the ``ALL`` row (one dimension, stage, rate kind and method), if exactly one cell is
suppressed, the next smallest one is suppressed too.

Suppression is on by default; ``min_numerator=0`` (and ``min_denominator=0``) turns it off,
as the methodology simulation does (it needs every cell).

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"numerator": [3.0, 40.0], "denominator": [50, 400],
    ...                    "estimate": [0.06, 0.1], "ci_low": [0.0, 0.07],
    ...                    "ci_high": [0.1, 0.13]})
    >>> suppress(df, group_by=None)["suppressed"].tolist()
    [True, False]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

MIN_NUMERATOR = 10
"""A cell whose (rounded, expected) numerator is below this is suppressed."""
MIN_DENOMINATOR = 50
"""A cell resting on fewer referrals (or stage-reaching referrals) than this is suppressed."""
VALUE_COLUMNS = ("estimate", "ci_low", "ci_high", "numerator")
"""Columns nulled in a suppressed cell."""


def suppress(
    table: pd.DataFrame,
    *,
    min_numerator: int = MIN_NUMERATOR,
    min_denominator: int = MIN_DENOMINATOR,
    group_by: Sequence[str] | None = ("dimension", "stage", "rate_kind", "method"),
    all_label: str = "ALL",
    stratum_column: str = "stratum",
) -> pd.DataFrame:
    """Return a copy of ``table`` with small cells suppressed and a ``suppressed`` flag.

    Args:
        table: one row per cell with ``numerator`` and ``denominator`` columns.
        min_numerator: primary suppression threshold on the numerator (0 = off).
        min_denominator: primary suppression threshold on the denominator (0 = off).
        group_by: columns of a group whose non-``ALL`` cells add up to its ``ALL`` cell;
            secondary suppression works within each group. None = no secondary step.
        all_label: the stratum value of the group total.
        stratum_column: the column holding the stratum value.

    Returns:
        A copy with ``suppressed`` (bool) and ``suppression`` (``primary``,
        ``secondary`` or null) columns and ``VALUE_COLUMNS`` nulled where suppressed.

    Example:
        >>> df = pd.DataFrame({"numerator": [2.0], "denominator": [500]})
        >>> bool(suppress(df, group_by=None)["suppressed"][0])
        True
    """
    out = table.copy()
    num = out["numerator"].to_numpy(dtype=float)
    den = out["denominator"].to_numpy(dtype=float)
    primary = (np.round(np.nan_to_num(num)) < min_numerator) | (
        np.nan_to_num(den) < min_denominator
    )
    secondary = np.zeros(len(out), dtype=bool)
    if group_by is not None and len(out) and (min_numerator > 0 or min_denominator > 0):
        secondary = _secondary(out, primary, list(group_by), all_label, stratum_column)
    out["suppressed"] = primary | secondary
    label = pd.Series(np.where(primary, "primary", "secondary"), index=out.index, dtype=object)
    out["suppression"] = label.where(primary | secondary, None)
    for col in VALUE_COLUMNS:
        if col in out.columns:
            out[col] = out[col].astype(float).where(~out["suppressed"])
    log.info("suppressed %d primary and %d secondary cells", primary.sum(), secondary.sum())
    return out


def _secondary(
    df: pd.DataFrame, primary: np.ndarray, keys: list[str], all_label: str, stratum: str
) -> np.ndarray:
    """Cells to suppress so that no group has exactly one suppressed non-total cell."""
    work = df[keys].copy()
    work["_primary"] = primary
    work["_num"] = df["numerator"].astype(float).fillna(0.0).to_numpy()
    work["_member"] = (df[stratum] != all_label).to_numpy()
    members = work[work["_member"]]
    n_supp = members.groupby(keys, dropna=False)["_primary"].transform("sum")
    # rank the unsuppressed members of each group by numerator: the smallest goes too
    candidates = members[(n_supp == 1) & ~members["_primary"]]
    rank = candidates.groupby(keys, dropna=False)["_num"].rank(method="first")
    chosen = candidates.index[rank.to_numpy() == 1]
    out = np.zeros(len(df), dtype=bool)
    out[df.index.get_indexer(chosen)] = True
    return out
