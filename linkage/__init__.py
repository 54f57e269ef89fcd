"""Referral-to-outcome linkage study toolkit.

Public API (everything else is private). The whole study in one call:

* ``StudyConfig`` / ``run_study`` / ``StudyResult``: generate or load, validate, link,
  evaluate, estimate and report into one output folder (what ``linkage run`` does).

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

import importlib
import sys
import types
from typing import Any

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
    "GenerateSummary": "linkage.generate",
    "Scenario": "linkage.scenario",
    "StudyConfig": "linkage.study",
    "StudyResult": "linkage.study",
    "available_scenarios": "linkage.scenario",
    "connect": "linkage.db",
    "estimate": "linkage.estimate",
    "evaluate": "linkage.evaluate",
    "generate": "linkage.generate",
    "link": "linkage.link",
    "load_input": "linkage.load",
    "load_truth": "linkage.load",
    "load_scenario": "linkage.scenario",
    "run_study": "linkage.study",
    "validate_tables": "linkage.quality",
    "write_report": "linkage.report",
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


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562) and keep it."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'linkage' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Keeps ``linkage.link`` (and ``estimate``, ``evaluate``, ``generate``) the functions.

    Importing a submodule binds it as an attribute of its package, so the first
    ``from linkage.link import ...`` anywhere would turn ``linkage.link`` into the module
    ``linkage/link.py``. The API names win; the modules stay importable by their dotted
    names (``from linkage.link import LinkSummary``).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
