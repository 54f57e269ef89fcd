"""Ingest: a user's (or generated) tables into the study database, as loaded.

Loading through the data contract (``load_input``, ``load_truth``, ``load_to_file``), with
a mapping file for extracts in other names and formats (``load_mapping``), the check of
what the identifiers allow before linking (``link_preflight``),
quarantine of survivable row problems (``quarantine_stage_dates``), the staging SQL that
standardises both sides for linkage (``build_staging``, ``uses_pseudonyms``) and
pseudonymisation (``pseudonymize``, ``read_key``). ``raw_*`` tables stay exactly as loaded.
"""

from linkage._lazy import lazy_exports

_EXPORTS = {
    "InputMapping": "linkage.ingest.mapping",
    "LoadSummary": "linkage.ingest.load",
    "Preflight": "linkage.ingest.preflight",
    "PseudonymizeSummary": "linkage.ingest.pseudonyms",
    "QuarantineResult": "linkage.ingest.quarantine",
    "build_staging": "linkage.ingest.staging",
    "link_preflight": "linkage.ingest.preflight",
    "load_input": "linkage.ingest.load",
    "load_mapping": "linkage.ingest.mapping",
    "load_to_file": "linkage.ingest.load",
    "load_truth": "linkage.ingest.truth",
    "pseudonymize": "linkage.ingest.pseudonyms",
    "quarantine_stage_dates": "linkage.ingest.quarantine",
    "read_key": "linkage.ingest.pseudonyms",
    "uses_pseudonyms": "linkage.ingest.staging",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
