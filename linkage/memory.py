"""A study's memory need, estimated from its scale, checked against what the machine (or
the process's limits) can give before any work starts.

The estimate is a line through the peaks ``benchmarks/bench_scale.py`` measured for a whole
``linkage run``, set above each of them: a refusal comes before a run that would die
half-way with a MemoryError. Under DuckDB's default cap (``db.DEFAULT_MEMORY_LIMIT``, 3 GB)
the peaks were 0.49 GB at 1%, 1.39 GB at 10% and 3.40 GB at the national year; with
another cap (``LINKAGE_MEMORY_LIMIT``) DuckDB may hold more, so the line through the
uncapped peaks applies (0.48, 1.56 and 6.18 GB).
A user's extract is sized by its rows once loaded (before validation and linkage, where
the memory goes), as the scale of a generated study of the same size: the rows per unit of
scale below are the default world's, so the estimate is as good as that world's shape is
like the extract's (a rough guide, set high). ``LINKAGE_SKIP_MEMORY_CHECK=1`` turns the
check off.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Mapping
from pathlib import Path

from linkage.errors import ConfigError

BASE_GB, PER_SCALE_GB = 1.2, 2.5  # GB; bench_scale peaks: 0.49 @ 0.01, 1.39 @ 0.1, 3.40 @ 1
UNCAPPED_BASE_GB, UNCAPPED_PER_SCALE_GB = 1.0, 5.5  # 0.48 @ 0.01, 1.56 @ 0.1, 6.18 @ 1
# Rows per contract table at scale 1 in the runs the line was fitted to (the default world).
ROWS_AT_SCALE_1 = {"tips": 20_500_000, "referrals": 818_500, "case_outcomes": 239_800}


def estimate_gb(scale: float) -> float:
    """Estimated peak resident memory (GB) of a whole study run at ``scale``.

    Example:
        >>> round(estimate_gb(1.0), 1)  # under the default cap
        3.7
    """
    if os.environ.get("LINKAGE_MEMORY_LIMIT"):
        return UNCAPPED_BASE_GB + UNCAPPED_PER_SCALE_GB * scale
    return BASE_GB + PER_SCALE_GB * scale


def available_gb() -> float:
    """Memory this process may use (GB): the least of the system's available memory, the
    cgroup limit (containers) and the address-space limit (``ulimit -v``).

    Example:
        >>> available_gb() > 0
        True
    """
    limits = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                limits.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    for cgroup in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            raw = Path(cgroup).read_text().strip()
        except OSError:
            continue
        if raw.isdigit() and int(raw) < 1 << 60:
            limits.append(int(raw))
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        limits.append(soft)
    return min(limits) / 1e9 if limits else float("inf")


def input_scale(row_counts: Mapping[str, int]) -> float:
    """The scale of a generated study as large as an input with ``row_counts`` (per contract
    table), by its largest table relative to the default world.

    Example:
        >>> input_scale({"referrals": 81_850, "case_outcomes": 1_000})
        0.1
    """
    return max((row_counts.get(table, 0) / rows for table, rows in ROWS_AT_SCALE_1.items()),
               default=0.0)


def check_input_memory(row_counts: Mapping[str, int]) -> None:
    """Refuse to go on with a loaded input whose estimated peak exceeds the memory available.

    Raises:
        ConfigError: the estimate, the input's size and what is available.

    Example:
        >>> check_input_memory({"referrals": 8_185, "case_outcomes": 2_398})
    """
    _refuse_over(input_scale(row_counts),
                 f"this input ({row_counts.get('referrals', 0):,} referrals, "
                 f"{row_counts.get('case_outcomes', 0):,} case records)",
                 "run on a larger machine, or on a sample of the extract")


def check_memory(scale: float) -> None:
    """Refuse a run whose estimated peak exceeds the memory available.

    Raises:
        ConfigError: the estimate (and what is available), before any work is done.

    Example:
        >>> check_memory(0.001)
    """
    _refuse_over(scale, f"scale {scale:g}", "choose a smaller --scale")


def _refuse_over(scale: float, what: str, advice: str) -> None:
    """ConfigError when a study of ``scale`` would need more memory than is available."""
    if os.environ.get("LINKAGE_SKIP_MEMORY_CHECK") == "1":
        return
    need, have = estimate_gb(scale), available_gb()
    if need > have:
        raise ConfigError(
            f"{what} needs about {need:.1f} GB of memory, {have:.1f} GB is available: "
            f"{advice} (or set LINKAGE_SKIP_MEMORY_CHECK=1 to try anyway)")
