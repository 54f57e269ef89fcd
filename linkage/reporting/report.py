"""The study report: ``report.html`` (self-contained and offline: inline CSS and SVG, no
script, no font, image or link to fetch) and ``report.md`` with the same sections as
Markdown tables. Built from the study database's aggregate tables only, so no record-level
identifier can reach it.

Sections follow what the GUILD guidance and the RECORD checklist ask a linkage study to
report: the flow of records with counts at each stage, the primary conversion table with
its intervals, every estimator beside the truth (synthetic data), linkage quality overall
and by subgroup, sensitivity to the link threshold, data quality, strata, methods (how
linkage error and censoring are handled) and the run's parameters.

The report only reads: it opens the study database read-only and takes the run's typed
manifest (:class:`linkage.summaries.StudyManifest`); every table it shows was built by an
earlier stage.

Example:
    >>> write_report("study_out/study.duckdb", "report_out")  # doctest: +SKIP
    PosixPath('report_out/report.html')
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import jinja2

from linkage.db import connect, table_exists
from linkage.errors import OutputError
from linkage.reporting import rates_sections, study_sections, time_to_event, trust
from linkage.reporting.format import Section
from linkage.resources import templates_dir
from linkage.summaries import StudyManifest

log = logging.getLogger(__name__)


def build_sections(con: duckdb.DuckDBPyConnection,
                   manifest: StudyManifest | None = None) -> list[Section]:
    """The report's sections, in order, from the study database (reads only).

    Example:
        >>> [s.title for s in build_sections(con)][:3]  # doctest: +SKIP
        ['Summary', 'Study flow', 'Conversion rates']
    """
    quality = manifest.quality if manifest else ()
    linkage = manifest.linkage if manifest else None
    estimation = manifest.estimation if manifest else None
    return [
        study_sections.summary_section(con, quality),
        study_sections.flow_section(con, linkage),
        rates_sections.conversion_section(con),
        trust.trust_section(con, manifest, rates_sections.primary_method(con)),
        time_to_event.horizons_section(con),
        rates_sections.estimators_section(con),
        study_sections.linkage_section(con),
        rates_sections.threshold_section(con, linkage.threshold if linkage else None),
        rates_sections.strata_section(con),
        study_sections.quality_section(con, manifest),
        rates_sections.methods_section(con, linkage, estimation),
        study_sections.scenario_section(manifest),
    ]


def write_report(
    db: str | Path,
    out: str | Path,
    *,
    manifest: StudyManifest | None = None,
) -> Path:
    """Write ``report.html`` and ``report.md`` into ``out``; return the HTML's path.

    Args:
        db: the study database after linkage and estimation, opened read-only (any stage
            may be missing: its sections then say so).
        out: folder to write into (created if needed).
        manifest: the run's typed manifest (scenario, versions, quality results, linkage
            and estimation settings, timings); without it those sections say so.

    Raises:
        OutputError: ``out`` cannot be written.

    Example:
        >>> write_report("study_out/study.duckdb", "report_out")  # doctest: +SKIP
        PosixPath('report_out/report.html')
    """
    with connect(db, read_only=True) as con:
        sections = build_sections(con, manifest)
        has_truth = any(table_exists(con, t) for t in
                        ("truth_links", "truth_referrals", "conversion_rates_truth"))
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates_dir()),
                             autoescape=jinja2.select_autoescape(["html.j2"]),
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["md"] = md_cell
    context = {"sections": sections, "has_truth": has_truth,
               "manifest": manifest.to_dict() if manifest else {}}
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        html = folder / "report.html"
        html.write_text(env.get_template("report.html.j2").render(context), encoding="utf-8")
        (folder / "report.md").write_text(env.get_template("report.md.j2").render(context),
                                          encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write the report into {folder}: {exc.strerror}") from None
    log.info("report written to %s (%d sections)", html, len(sections))
    return html


def md_cell(value: str) -> str:
    """A value safe inside a Markdown table cell (pipes escaped, one line).

    Example:
        >>> md_cell("a | b")
        'a \\\\| b'
    """
    return str(value).replace("|", "\\|").replace("\n", " ")
