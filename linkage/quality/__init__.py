"""Quality: the great-expectations suites (one per table) and the gates between stages.

``validate_tables`` and ``gate`` run suites on a study database, ``validate_input`` on
input files (``linkage validate``); ``format_summary`` renders what they found. GX is
imported on first use.
"""

from linkage._lazy import lazy_exports

_EXPORTS = {
    "CRITICAL": "linkage.quality.suites",
    "ExpectationResult": "linkage.quality.suites",
    "StudyWindow": "linkage.quality.suites",
    "SuiteResult": "linkage.quality.suites",
    "ValidationRun": "linkage.quality.validate",
    "WARNING": "linkage.quality.suites",
    "describe_failure": "linkage.quality.suites",
    "format_summary": "linkage.quality.results",
    "gate": "linkage.quality.suites",
    "load_suite": "linkage.quality.suites",
    "suite_names": "linkage.quality.suites",
    "validate_input": "linkage.quality.validate",
    "validate_table": "linkage.quality.suites",
    "validate_tables": "linkage.quality.suites",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
