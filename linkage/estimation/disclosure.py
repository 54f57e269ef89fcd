"""Small-cell suppression (statistical disclosure control) for published rate tables.

What a reader sees. ``conversion_rates`` (and ``conversion_rates_strata``, the report)
publish, per method, dimension, stratum and stage, a *cumulative* rate N[s, k] / n[s]
(``numerator``, ``denominator`` = ``n_referrals``, ``estimate``, ``ci_low``/``ci_high``)
and a *conditional* rate N[s, k] / N[s, k-1]. So the quantities to protect are the
**counts** N[s, k] (expected referrals of stratum s reaching stage k), and each count
shows up in up to three rows: its cumulative row, its conditional row (numerator) and the
next stage's conditional row (denominator). Any one of them, or an estimate times a
published denominator, gives it away; suppressing rows one by one is not enough.

Rules (all on counts; a row is then suppressed wherever one of its counts is):

1. **Primary**: a count is hidden when its rounded value is below ``MIN_NUMERATOR``; when
   its stratum rests on fewer than ``MIN_DENOMINATOR`` referrals; or when the count it is
   a conditional rate *of* (the previous stage's) is below ``MIN_DENOMINATOR`` - that rate
   is unreliable and, with both counts published, it could be recomputed.
2. **Secondary (margins)**: the strata of a dimension add up to its ``ALL`` row, stage by
   stage (the column totals a reader sees). In every such sum the hidden terms, ``ALL``
   included, must be none or at least two: where exactly one is hidden, the smallest
   visible stratum is hidden too (``ALL`` itself when no stratum is left). Stages are not
   additive (they are nested), so there is no row-total equation across stages.
3. **Same cell, other label**: ``ALL`` is the same count in every dimension, and a
   stratum of one dimension can hold exactly the referrals of a stratum of another
   (``reporter_type = public`` and ``reporter_name = (none)``). Strata with the same
   referral count and the same count at every stage are treated as one cell and hidden
   together (at worst a coincidence hides a cell too many).
4. Rules 2-3 repeat until nothing changes. In a hidden row the estimate, interval and
   the hidden count(s) - ``numerator``, and for a conditional rate whose previous-stage
   count is hidden also ``denominator`` - are nulled; ``n_referrals`` (the number of
   referrals per stratum, which every user needs and which says nothing about outcomes)
   stays.

Not covered: intervals implied by the nesting of stages (a hidden arrest count lies between
the visible charge and investigation counts), and differencing between *methods* or
between runs on overlapping data. Expected (non-integer) counts of the model-based methods
are protected like counts.

Suppression is on by default; ``min_numerator=0`` and ``min_denominator=0`` turn it off,
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

from linkage.contract import STAGES

log = logging.getLogger(__name__)

MIN_NUMERATOR = 10
"""A count whose (rounded, expected) value is below this is hidden."""
MIN_DENOMINATOR = 50
"""A rate resting on fewer referrals (or stage-reaching referrals) than this is hidden."""
VALUE_COLUMNS = ("estimate", "ci_low", "ci_high", "estimate_at_low", "estimate_at_high",
                 "bound_low", "bound_high", "tipping_point", "process_ci_low",
                 "process_ci_high")
"""Columns nulled in every suppressed row (plus the hidden count columns)."""
STAGE_ORDER: tuple[str, ...] = tuple(name for name, _ in STAGES)
CONDITIONAL = "conditional"


def suppress(
    table: pd.DataFrame,
    *,
    min_numerator: int = MIN_NUMERATOR,
    min_denominator: int = MIN_DENOMINATOR,
    group_by: Sequence[str] | None = ("dimension", "method"),
    all_label: str = "ALL",
    stratum_column: str = "stratum",
    stages: Sequence[str] = STAGE_ORDER,
) -> pd.DataFrame:
    """Return a copy of ``table`` with small cells suppressed and a ``suppressed`` flag.

    Args:
        table: one row per published rate with ``numerator`` and ``denominator``; with a
            ``rate_kind`` column, ``conditional`` rows are rates of the previous stage's
            count (see the module docstring) and share counts with the other rows.
        min_numerator: primary threshold on counts (0 = off).
        min_denominator: primary threshold on what a rate rests on (0 = off).
        group_by: columns that, with ``stage``, identify one additive table (its strata
            add up to its ``all_label`` row). None = primary suppression only.
        all_label: the stratum value of the total.
        stratum_column: the column holding the stratum value.
        stages: stage order (the previous stage of a conditional rate).

    Returns:
        A copy with ``suppressed`` (bool) and ``suppression`` (``primary``,
        ``secondary`` or null), ``VALUE_COLUMNS`` and the hidden counts nulled.

    Example:
        >>> df = pd.DataFrame({"numerator": [2.0], "denominator": [500]})
        >>> bool(suppress(df, group_by=None)["suppressed"][0])
        True
    """
    out = table.copy().reset_index(drop=True)
    on = min_numerator > 0 or min_denominator > 0
    num = out["numerator"].to_numpy(dtype=float)
    den = out["denominator"].to_numpy(dtype=float)
    cond = (out["rate_kind"] == CONDITIONAL).to_numpy() if "rate_kind" in out else (
        np.zeros(len(out), dtype=bool))
    if group_by is None or not on or not len(out):
        # no shared counts: each row stands alone
        primary = on & ((np.round(np.nan_to_num(num)) < min_numerator)
                        | (np.nan_to_num(den) < min_denominator))
        return _apply(out, primary, primary, np.zeros(len(out), dtype=bool), primary)

    keys = [*group_by, stratum_column]
    cells = _Cells(out, keys, stages, cond)
    small = np.round(np.nan_to_num(num)) < min_numerator
    thin = np.nan_to_num(den) < min_denominator
    # rule 1: a small count; a count over a thin base (referrals or the previous stage)
    cells.hide_primary(cells.num_id[small | thin])
    cells.link_identical(out, group_by, stratum_column, all_label)
    cells.hide_margins(all_label)
    num_hidden = cells.hidden[cells.num_id]
    den_hidden = np.where(cond, cells.hidden[np.maximum(cells.den_id, 0)], False)
    from_primary = cells.primary[cells.num_id] | np.where(
        cond, cells.primary[np.maximum(cells.den_id, 0)], False)
    return _apply(out, num_hidden | den_hidden, num_hidden, den_hidden, from_primary)


def _apply(out: pd.DataFrame, rows: np.ndarray, num_hidden: np.ndarray,
           den_hidden: np.ndarray, from_primary: np.ndarray) -> pd.DataFrame:
    out["suppressed"] = rows
    label = pd.Series(np.where(from_primary, "primary", "secondary"), index=out.index,
                      dtype=object)
    out["suppression"] = label.where(rows, None)
    for col in VALUE_COLUMNS:
        if col in out.columns:
            out[col] = out[col].astype(float).where(~rows)
    out["numerator"] = out["numerator"].astype(float).where(~num_hidden)
    if den_hidden.any():
        out["denominator"] = out["denominator"].astype(float).where(~den_hidden)
    n_primary = int((rows & from_primary).sum())
    log.info("suppressed %d rows (%d primary, %d secondary)", int(rows.sum()), n_primary,
             int(rows.sum()) - n_primary)
    return out


class _Cells:
    """The counts behind the rows: one per (group, stratum, stage), each with its value,
    the rows that show it, whether it is hidden and whether for a primary reason."""

    def __init__(self, df: pd.DataFrame, keys: list[str], stages: Sequence[str],
                 cond: np.ndarray) -> None:
        order = {s: i for i, s in enumerate(stages)}
        stage_idx = df["stage"].map(order)
        if stage_idx.isna().any():
            raise ValueError(f"unknown stage(s): {sorted(set(df['stage'][stage_idx.isna()]))}")
        stage_idx = stage_idx.to_numpy(dtype=int)
        # the key columns as lists of str: iterating pandas' Arrow strings is slower
        rows = list(zip(*(df[k].astype(str).tolist() for k in keys), strict=True))
        num_keys = [(*row, s) for row, s in zip(rows, stage_idx.tolist(), strict=True)]
        den_keys = [(*row, s - 1) if c else None for row, s, c in zip(
            rows, stage_idx.tolist(), cond, strict=True)]
        ids: dict[tuple, int] = {}
        value: list[float] = []
        nums = df["numerator"].to_numpy(dtype=float)
        dens = df["denominator"].to_numpy(dtype=float)
        for key_list, values in ((num_keys, nums), (den_keys, dens)):
            for key, v in zip(key_list, values, strict=True):
                if key is not None and key not in ids:
                    ids[key] = len(value)
                    value.append(v)
        self.keys = list(ids)
        self.value = np.nan_to_num(np.asarray(value, dtype=float))
        self.num_id = np.array([ids[k] for k in num_keys], dtype=int)
        self.den_id = np.array([ids[k] if k is not None else -1 for k in den_keys], dtype=int)
        self.hidden = np.zeros(len(value), dtype=bool)
        self.primary = np.zeros(len(value), dtype=bool)
        self.link = np.arange(len(value))  # cells that are one count share a link id
        self.n_keys = len(keys)

    def hide_primary(self, ids: np.ndarray) -> None:
        self.hidden[ids] = True
        self.primary[ids] = True

    def link_identical(self, df: pd.DataFrame, group_by: Sequence[str], stratum: str,
                       all_label: str) -> None:
        """Rule 3: strata of different dimensions with identical counts are one cell."""
        if "dimension" not in group_by:
            return
        rest = [i for i, c in enumerate(group_by) if c != "dimension"]
        sizes: dict[tuple, float] = {}
        if "rate_kind" in df:
            cum = df[df["rate_kind"] != CONDITIONAL]
            cols = [*group_by, stratum, "denominator"]
            for row in zip(*(cum[c].astype(str).tolist() for c in cols), strict=True):
                sizes[row[:-1]] = row[-1]
        by_stratum: dict[tuple, dict[int, float]] = {}
        for cid, key in enumerate(self.keys):
            by_stratum.setdefault(key[:-1], {})[key[-1]] = self.value[cid]
        signature: dict[tuple, int] = {}
        for stratum_key, counts in by_stratum.items():
            sig = (tuple(stratum_key[i] for i in rest), sizes.get(stratum_key),
                   tuple(sorted(counts.items())))
            signature.setdefault(sig, len(signature))
        for cid, key in enumerate(self.keys):
            counts = by_stratum[key[:-1]]
            sig = (tuple(key[i] for i in rest), sizes.get(key[:-1]),
                   tuple(sorted(counts.items())))
            self.link[cid] = signature[sig] * 1000 + key[-1]
        self._spread()

    def _spread(self) -> bool:
        """Hide every cell linked to a hidden one; return whether anything changed."""
        def spread(flags: np.ndarray) -> np.ndarray:
            return np.array(pd.Series(flags).groupby(self.link).transform("any"), dtype=bool)

        linked_hidden, linked_primary = spread(self.hidden), spread(self.primary)
        changed = bool((linked_hidden & ~self.hidden).any())
        self.hidden, self.primary = linked_hidden, linked_primary
        return changed

    def hide_margins(self, all_label: str) -> None:
        """Rule 2 with rule 3, to a fixed point."""
        # additive group: every key but the stratum, plus the stage
        group = [key[: self.n_keys - 1] + (key[-1],) for key in self.keys]
        is_all = np.array([key[self.n_keys - 1] == all_label for key in self.keys])
        members: dict[tuple, list[int]] = {}
        total: dict[tuple, int] = {}
        for cid, g in enumerate(group):
            if is_all[cid]:
                total[g] = cid
            else:
                members.setdefault(g, []).append(cid)
        changed = True
        while changed:
            changed = False
            for g, ids in members.items():
                t = total.get(g)
                hidden = int(self.hidden[ids].sum()) + int(t is not None and self.hidden[t])
                if t is None or hidden != 1:
                    continue
                visible = [c for c in ids if not self.hidden[c]]
                if visible:  # the smallest visible stratum: least information lost
                    pick = min(visible, key=lambda c: (self.value[c], self.keys[c]))
                else:
                    pick = t
                self.hidden[pick] = True
                changed = True
            changed = self._spread() or changed
