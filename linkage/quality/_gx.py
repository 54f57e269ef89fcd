"""great-expectations set up once per process: imported lazily, quiet and offline.

GX takes about 3 s to import, so it is imported only when a suite is first loaded (a study
starts that import in a background thread behind its load: ``prewarm``). Before
the import ``GX_ANALYTICS_ENABLED`` is set to ``False`` (1.24 has no analytics code, but
its docs name the switch, so a future release that reads it stays silent too); the context
is ephemeral (no files), with no Data Docs site and no progress bars, and GX's loggers are
raised to CRITICAL (errors reach our results through ``exception_info``).
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Any, ClassVar

from linkage.library_logs import route_library_logs
from linkage.quality import _gx_duckdb

_prewarm: list[threading.Thread] = []


def _import_gx() -> None:
    # GX 1.24 has no analytics code, but its docs name this switch: set it before the
    # import so a future release that reads it stays silent too.
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    import great_expectations  # noqa: F401


def _import_quietly() -> None:
    try:
        _import_gx()
    except BaseException:  # noqa: BLE001 - gx() imports again and reports the error
        return


def prewarm() -> None:
    """Start importing GX in a background thread, once per process.

    A study's load stage runs in DuckDB, which releases the GIL, so most of GX's import
    (about 2.5 s, a fixed cost a small study pays in full) overlaps it; ``gx()`` waits
    for the thread rather than importing beside it. The libraries GX shares with the
    caller (numpy, pandas, pyarrow, SQLAlchemy) are imported here first, in the calling
    thread, so the two threads never import the same module at once.

    Example:
        >>> prewarm(); gx().__name__
        'great_expectations'
    """
    if _prewarm:
        return
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401
    import sqlalchemy  # noqa: F401

    thread = threading.Thread(target=_import_quietly, name="linkage-gx-import", daemon=True)
    _prewarm.append(thread)
    thread.start()


@functools.cache
def gx() -> Any:
    """Import GX once, quiet its loggers, register our expectation and the DuckDB patch;
    return the ``great_expectations`` module."""
    for thread in _prewarm:
        thread.join()
    _import_gx()
    import great_expectations
    import sqlalchemy as sa
    from great_expectations.execution_engine import SqlAlchemyExecutionEngine as SaEngine
    from great_expectations.expectations.expectation import ColumnMapExpectation
    from great_expectations.expectations.metrics import ColumnMapMetricProvider as MapMetric
    from great_expectations.expectations.metrics import column_condition_partial

    # GX logs warnings ("Regex is not supported for dialect duckdb") and full tracebacks
    # for failed metric queries; the error text reaches our results through exception_info,
    # so they show at DEBUG only.
    route_library_logs()
    _gx_duckdb.enable()

    # GX's regex expectations refuse the duckdb dialect; this one uses regexp_full_match and
    # keeps `mostly`. Defining the classes registers them (before any suite is loaded).
    class ColumnValuesRegexpFullMatch(MapMetric):
        condition_metric_name = "column_values.regexp_full_match"
        condition_value_keys = ("regex",)

        @column_condition_partial(engine=SaEngine)
        def _sqlalchemy(cls, column: Any, regex: str, **kwargs: Any) -> Any:
            return sa.func.regexp_full_match(column, sa.literal(regex))

    class ExpectColumnValuesToFullMatchRegex(ColumnMapExpectation):
        """Each non-null value fully matches ``regex`` (DuckDB only)."""

        regex: str
        map_metric: ClassVar[str] = "column_values.regexp_full_match"
        success_keys: ClassVar[tuple[str, ...]] = ("regex", "mostly")

    return great_expectations


@functools.cache
def context() -> Any:
    """The process's one ephemeral GX context: in memory, no Data Docs, no progress bars."""
    gx_module = gx()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites={},
        progress_bars={"globally": False, "metric_calculations": False},
        analytics_enabled=False,  # inert in 1.24, kept in case the version moves
    )
    return gx_module.get_context(mode="ephemeral", project_config=config)
