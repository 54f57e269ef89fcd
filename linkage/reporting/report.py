"""The study report: ``report.html`` (self-contained and offline: inline CSS and SVG, no
script, no font, image or link to fetch) and ``report.md`` with the same sections as
Markdown tables. Built from the study database's aggregate tables only, so no record-level
identifier can reach it.

Sections follow what the GUILD guidance and the RECORD checklist ask a linkage study to
report: the flow of records with counts at each stage, the primary conversion table with
its intervals, every estimator beside the truth (synthetic data), linkage quality overall
and by subgroup, sensitivity to the link threshold, data quality, strata, methods (how
linkage error and censoring are handled) and the run's parameters.

Example:
    >>> from linkage.db import connect
    >>> con = connect("study_out/study.duckdb")  # doctest: +SKIP
    >>> write_report(con, "report_out")  # doctest: +SKIP
    PosixPath('report_out/report.html')
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import jinja2

from linkage.db import table_exists
from linkage.errors import OutputError
from linkage.reporting import rates_sections as report_rates
from linkage.reporting import study_sections as report_study
from linkage.reporting.format import Section
from linkage.resources import templates_dir

log = logging.getLogger(__name__)


def build_sections(
    con: duckdb.DuckDBPyConnection,
    *,
    manifest: dict[str, Any] | None = None,
    quality_results: Sequence[Any] | None = None,
) -> list[Section]:
    """The report's sections, in order, from the study database (reads only).

    Example:
        >>> [s.title for s in build_sections(con)][:3]  # doctest: +SKIP
        ['Summary', 'Study flow', 'Conversion rates']
    """
    manifest = manifest or {}
    quality = list(quality_results or [])
    linkage = manifest.get("linkage") or {}
    return [
        report_study.summary_section(con, quality),
        report_study.flow_section(con, linkage),
        report_rates.conversion_section(con),
        report_rates.estimators_section(con),
        report_study.linkage_section(con),
        report_rates.threshold_section(con, linkage.get("threshold")),
        report_rates.strata_section(con),
        report_study.quality_section(con, quality, manifest),
        report_rates.methods_section(con, linkage),
        report_study.scenario_section(manifest),
    ]


def refresh_comparisons(con: duckdb.DuckDBPyConnection, *,
                        end_date: dt.date | None = None) -> list[str]:
    """(Re)build the tables the report compares the primary estimate with.

    ``conversion_rates_threshold`` (the threshold estimator at several thresholds) and,
    with truth, ``conversion_rates_truth``; see :mod:`linkage.estimation.sensitivity`. Needs the
    estimation stage's tables; ``end_date`` must be the one given to ``estimate`` (None =
    inferred, as ``estimate`` does by default). Returns the tables built.

    Example:
        >>> refresh_comparisons(con)  # doctest: +SKIP
        ['conversion_rates_threshold', 'conversion_rates_truth']
    """
    if not table_exists(con, "conversion_rates"):
        return []
    from linkage.estimation import sensitivity

    built = ["conversion_rates_threshold"]
    sensitivity.threshold_sensitivity(con, end_date=end_date)
    if sensitivity.truth_comparison(con) is not None:
        built.append("conversion_rates_truth")
    return built


def write_report(
    con: duckdb.DuckDBPyConnection,
    out: str | Path,
    *,
    manifest: dict[str, Any] | None = None,
    quality_results: Sequence[Any] | None = None,
    refresh: bool = True,
    end_date: dt.date | None = None,
) -> Path:
    """Write ``report.html`` and ``report.md`` into ``out``; return the HTML's path.

    Args:
        con: the study database after linkage and estimation (any stage may be missing:
            its sections then say so).
        out: folder to write into (created if needed).
        manifest: the run's manifest (scenario, versions, linkage settings, timings).
        quality_results: the data-quality ``SuiteResult`` list of the run.
        refresh: first rebuild the comparison tables (``refresh_comparisons``); needs a
            writable connection. False renders only what the database already holds.
        end_date: the study end date given to ``estimate`` (None = inferred).

    Raises:
        OutputError: ``out`` cannot be written.

    Example:
        >>> write_report(con, "study_out", manifest={})  # doctest: +SKIP
        PosixPath('study_out/report.html')
    """
    if refresh:
        refresh_comparisons(con, end_date=end_date)
    sections = build_sections(con, manifest=manifest, quality_results=quality_results)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates_dir()),
                             autoescape=jinja2.select_autoescape(["html.j2"]),
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["md"] = md_cell
    context = {"sections": sections, "manifest": manifest or {},
               "has_truth": any(table_exists(con, t) for t in
                                ("truth_links", "truth_referrals", "conversion_rates_truth"))}
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
