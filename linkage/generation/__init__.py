"""Generation: synthetic tips, referrals and case outcomes with known truth.

What other stages may use: the scenario (``Scenario``, ``load_scenario``,
``available_scenarios``) and the generator (``generate``, ``GenerateSummary``). The draws
(``draws``), the people and tips (``records``) and the outcomes (``outcomes``) are private.
"""

from linkage._lazy import lazy_exports

_EXPORTS = {
    "FORMATS": "linkage.generation.writer",
    "GenerateSummary": "linkage.generation.writer",
    "Scenario": "linkage.generation.scenario",
    "available_scenarios": "linkage.generation.scenario",
    "generate": "linkage.generation.writer",
    "load_scenario": "linkage.generation.scenario",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
