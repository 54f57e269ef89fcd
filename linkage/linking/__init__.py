"""Linking: referrals to case outcomes with Splink, and linkage quality against truth.

``link`` trains the model without truth and writes ``scored_pairs`` and ``links``;
``evaluate`` scores them against the generator's truth (synthetic data only). The model,
the pseudonymised encodings, the temporal step and the Spark backend are private.
"""

from linkage._lazy import lazy_exports
from linkage.library_logs import route_library_logs

route_library_logs()  # Splink's messages through logging, once (every Linker is made here)

_EXPORTS = {
    "BACKENDS": "linkage.linking.spark",
    "EvaluationSummary": "linkage.linking.metrics",
    "LinkSummary": "linkage.linking.run",
    "evaluate": "linkage.linking.metrics",
    "has_truth": "linkage.linking.metrics",
    "link": "linkage.linking.run",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
