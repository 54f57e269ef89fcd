"""Referral-to-outcome linkage study toolkit.

Public API (everything else is private). The whole study in one call:

* ``StudyConfig`` / ``run_study`` / ``StudyResult``: generate or load, validate, link,
  evaluate, estimate and report into one output folder (what ``linkage run`` does);
  ``open_study`` reopens such a folder.

The same stages as plain functions, on one DuckDB connection (tables in, tables out):

* ``load_scenario`` / ``Scenario`` / ``available_scenarios``: the checked scenario;
* ``generate`` / ``GenerateSummary``: synthetic tips, referrals and outcomes with truth;
* ``connect``: open (or create) a study database;
* ``load_input``: a user's (or generated) tables into ``raw_*``, checked by the contract;
* ``load_truth``: the generator's truth tables (synthetic data only, for ``evaluate``);
* ``validate_tables``: the great-expectations suites on the tables present;
* ``link``: Splink linkage into ``scored_pairs`` and ``links``;
* ``evaluate``: linkage quality against the truth (synthetic data only);
* ``estimate``: ``conversion_rates`` (every estimator, one primary) and companions;
* ``write_report``: ``report.html`` and ``report.md`` from those tables;
* the exceptions, all subclasses of ``ToolkitError``.

Names are imported on first use, so ``import linkage`` stays fast (Splink, pandas and
great-expectations load only with the stage that needs them).

Example:
    >>> import linkage
    >>> sc = linkage.load_scenario(scale=0.001, seed=1)
    >>> sc.n_tips
    20500
"""

from __future__ import annotations

from linkage._lazy import lazy_exports
from linkage.errors import (
    BackendError,
    ConfigError,
    ContractError,
    DataQualityError,
    LinkModelError,
    OutputError,
    PseudonymKeyError,
    ToolkitError,
)

_LAZY: dict[str, str] = {
    "GenerateSummary": "linkage.generation",
    "Scenario": "linkage.generation",
    "StudyConfig": "linkage.study",
    "StudyResult": "linkage.study",
    "available_scenarios": "linkage.generation",
    "connect": "linkage.db",
    "estimate": "linkage.estimation",
    "evaluate": "linkage.linking",
    "generate": "linkage.generation",
    "link": "linkage.linking",
    "load_input": "linkage.ingest",
    "load_truth": "linkage.ingest",
    "load_scenario": "linkage.generation",
    "open_study": "linkage.study",
    "run_study": "linkage.study",
    "validate_tables": "linkage.quality",
    "write_report": "linkage.reporting",
}

__all__ = [
    "BackendError",
    "ConfigError",
    "ContractError",
    "DataQualityError",
    "LinkModelError",
    "OutputError",
    "PseudonymKeyError",
    "ToolkitError",
    *sorted(_LAZY),
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
