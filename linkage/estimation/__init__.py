"""Estimation: per-offense conversion rates with every method, one of them primary.

``estimate`` writes ``conversion_rates`` and its companions.
"""

from linkage._lazy import lazy_exports

_EXPORTS = {
    "EstimateSummary": "linkage.estimation.run",
    "METHODS": "linkage.estimation.run",
    "PRIMARY": "linkage.estimation.run",
    "estimate": "linkage.estimation.run",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
