"""Reporting: ``report.html`` and ``report.md`` from a finished study database.
"""

from linkage._lazy import lazy_exports

_EXPORTS = {
    "write_report": "linkage.reporting.report",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
