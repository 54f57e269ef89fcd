"""Simulation summaries: bias, RMSE and coverage per cell, the stress matrix and its heatmap.

Pure pandas over replicate rows (one row per replicate x method x cell with ``estimate``,
``ci_low``, ``ci_high`` and ``truth``); the simulation (``linkage.simulate``) produces the
rows, this module only reads them. ``write_matrix_html`` renders the matrix as one offline
page (no script, font or stylesheet fetched).

Example:
    >>> rows = pd.DataFrame({"world": ["w"] * 2, "method": ["m"] * 2,
    ...     "offense_type": ["ALL"] * 2, "stage": ["arrest"] * 2,
    ...     "rate_kind": ["cumulative"] * 2, "n_referrals": [100, 100],
    ...     "estimate": [0.1, 0.2], "ci_low": [0.0, 0.15], "ci_high": [0.2, 0.25],
    ...     "truth": [0.1, 0.1]})
    >>> matrix_table(rows)[["world", "bias", "coverage", "mean_ci_width"]].values.tolist()
    [['w', 0.05, 0.5, 0.15000000000000002]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

CELL_KEYS = ("method", "offense_type", "stage", "rate_kind")
MATRIX_COLUMNS = ("world", "method", "offense_type", "stage", "rate_kind", "n_replicates",
                  "truth_mean", "bias", "rmse", "coverage", "mean_ci_width", "sd_over_se",
                  "n_referrals")
"""Columns of ``matrix.csv``: one row per world x method x offense type x stage x rate kind."""
Z95 = 1.959964


def summarise(replicates: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Bias, RMSE and coverage per method x cell (and per ``by`` columns, e.g. the world)
    from replicate rows, with what explains a coverage miss: the spread of the error over
    replicates (``sd``) against the mean standard error the intervals imply (``mean_se``,
    width / 3.92): ``sd_over_se`` above 1 means intervals too narrow, and a ``bias`` of a
    few ``sd`` shifts them off the truth; ``miss_low`` / ``miss_high`` are the shares of
    replicates whose interval lies wholly below / above the truth.

    Example:
        >>> rows = pd.DataFrame({"method": ["m"] * 2, "offense_type": ["ALL"] * 2,
        ...     "stage": ["arrest"] * 2, "rate_kind": ["cumulative"] * 2,
        ...     "n_referrals": [100, 100], "estimate": [0.1, 0.2], "ci_low": [0.0, 0.15],
        ...     "ci_high": [0.2, 0.25], "truth": [0.1, 0.1]})
        >>> summarise(rows)[["bias", "coverage"]].round(2).values.tolist()
        [[0.05, 0.5]]
    """
    df = replicates.dropna(subset=["truth", "estimate"]).copy()
    df["error"] = df["estimate"] - df["truth"]
    df["sq_error"] = df["error"] ** 2
    df["covered"] = (df["ci_low"] <= df["truth"]) & (df["truth"] <= df["ci_high"])
    df["below"] = df["ci_high"] < df["truth"]
    df["above"] = df["ci_low"] > df["truth"]
    df["width"] = df["ci_high"] - df["ci_low"]
    df["se"] = df["width"] / (2 * Z95)
    keys = [*by, *CELL_KEYS]
    out = df.groupby(keys, as_index=False).agg(
        replicates=("error", "size"),
        n_referrals=("n_referrals", "mean"),
        truth=("truth", "mean"),
        estimate=("estimate", "mean"),
        bias=("error", "mean"),
        rmse=("sq_error", lambda s: float(np.sqrt(s.mean()))),
        coverage=("covered", "mean"),
        mean_ci_width=("width", "mean"),
        sd=("error", "std"),
        mean_se=("se", "mean"),
        miss_low=("below", "mean"),
        miss_high=("above", "mean"),
    )
    out["sd_over_se"] = out["sd"] / out["mean_se"].where(out["mean_se"] > 0)
    return out.sort_values([*by, "rate_kind", "offense_type", "stage", "method"])


def matrix_table(replicates: pd.DataFrame) -> pd.DataFrame:
    """The stress matrix: ``summarise`` per world, in ``MATRIX_COLUMNS``."""
    out = summarise(replicates, by=("world",)).rename(
        columns={"replicates": "n_replicates", "truth": "truth_mean"})
    return out[list(MATRIX_COLUMNS)].reset_index(drop=True)


def headline(matrix: pd.DataFrame, min_referrals: float = 0.0,
             rate_kind: str | None = "cumulative") -> pd.DataFrame:
    """Per world and method: cells, max |bias| (points), mean and lowest coverage, over the
    cells with at least ``min_referrals`` referrals on average (and ``ALL``).

    Example:
        >>> m = pd.DataFrame({"world": ["w", "w"], "method": ["m", "m"],
        ...     "offense_type": ["ALL", "x"], "rate_kind": ["cumulative"] * 2,
        ...     "n_referrals": [900, 10], "bias": [0.001, -0.05], "coverage": [0.9, 0.2]})
        >>> headline(m, min_referrals=100).values.tolist()
        [['w', 'm', 1, 0.1, 0.9, 0.9]]
    """
    cells = matrix if rate_kind is None else matrix[matrix.rate_kind == rate_kind]
    cells = cells[(cells.offense_type == "ALL") | (cells.n_referrals >= min_referrals)]
    cells = cells.dropna(subset=["bias"]).assign(abs_bias_pp=lambda d: d.bias.abs() * 100)
    out = cells.groupby(["world", "method"], as_index=False).agg(
        cells=("bias", "size"), max_abs_bias_pp=("abs_bias_pp", "max"),
        mean_coverage=("coverage", "mean"), min_coverage=("coverage", "min"))
    return out.round({"max_abs_bias_pp": 3, "mean_coverage": 3, "min_coverage": 3})


def format_headline(matrix: pd.DataFrame, min_referrals: float = 500) -> str:
    """``headline`` of a matrix as text (what ``linkage simulate`` prints)."""
    table = headline(matrix, min_referrals=min_referrals)
    return (f"cumulative rates, ALL and offense types with >= {min_referrals:g} referrals on "
            "average:\n" + table.to_string(index=False))


def format_sweep(table: pd.DataFrame, knob: str,
                 methods: Sequence[str] = ("calibrated", "threshold", "weighted")) -> str:
    """A sweep's summaries (``value`` column) as text, one block per value of ``knob``."""
    return "\n\n".join(f"{knob} = {v:g}\n" + format_summary(table[table.value == v],
                                                              methods=methods)
                       for v in dict.fromkeys(table["value"]))


def format_summary(summary: pd.DataFrame, min_referrals: int = 1000,
                   methods: Sequence[str] | None = None) -> str:
    """The acceptance view of a summary as text: cumulative rates of the offense types
    with at least ``min_referrals`` referrals on average, and ALL; bias and RMSE in
    percentage points, coverage, per method side by side.

    Example:
        >>> print(format_summary(summary))  # doctest: +SKIP
    """
    cells = summary[summary.rate_kind == "cumulative"]
    if methods is not None:
        cells = cells[cells.method.isin(methods)]
    cells = cells[(cells.offense_type == "ALL") | (cells.n_referrals >= min_referrals)]
    if cells.empty:
        return "(no cell with enough referrals)"
    table = cells.assign(
        bias_pp=(cells.bias * 100).round(3), rmse_pp=(cells.rmse * 100).round(3),
        truth_pct=(cells.truth * 100).round(3), coverage=cells.coverage.round(3),
    ).pivot_table(index=["offense_type", "stage", "replicates", "truth_pct"],
                  columns="method", values=["bias_pp", "rmse_pp", "coverage"])
    with pd.option_context("display.width", 250, "display.max_columns", 50):
        return table.to_string()
