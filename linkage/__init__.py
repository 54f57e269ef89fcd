"""Referral-to-outcome linkage study toolkit.

Public API (everything else is private):

* ``load_scenario`` / ``Scenario``: the typed, checked scenario configuration;
* ``generate``: synthetic tips, referrals and case outcomes with known truth;
* ``load_input`` / ``load_to_file``: a user's tables (or generated ones) into DuckDB,
  checked against the data contract;
* the exceptions, all subclasses of ``ToolkitError``.

Example:
    >>> import linkage
    >>> sc = linkage.load_scenario(scale=0.001, seed=1)
    >>> sc.n_tips
    20500
"""

from linkage.errors import (
    ConfigError,
    ContractError,
    DataQualityError,
    LinkModelError,
    OutputError,
    PseudonymKeyError,
    ToolkitError,
)
from linkage.generate import GenerateSummary, generate
from linkage.scenario import Scenario, available_scenarios, load_scenario

__all__ = [
    "ConfigError",
    "ContractError",
    "DataQualityError",
    "GenerateSummary",
    "LinkModelError",
    "OutputError",
    "PseudonymKeyError",
    "Scenario",
    "ToolkitError",
    "available_scenarios",
    "generate",
    "load_scenario",
]
