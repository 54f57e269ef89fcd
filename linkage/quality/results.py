"""Data-quality results for people and machines: a console summary, a JSON report and
offline HTML pages ("data docs") rendered from that JSON.

Everything here holds counts, column names and rule descriptions, never record values. The
HTML is one self-contained page: inline CSS, no script, no external stylesheet, font or
image (GX's own Data Docs load Bootstrap, jQuery and vega from CDNs and a logo from S3, so
opening them contacts third parties; these pages work offline and contact nobody).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from linkage.errors import ContractError
from linkage.outputs import atomic_folder, atomic_write_text, check_replaceable
from linkage.quality.suites import StudyWindow, SuiteResult, describe_failure

SCHEMA = "linkage.quality/1"
# Marks a folder as written by write_docs, so that only such a folder is ever replaced.


def to_dict(
    results: Sequence[SuiteResult],
    *,
    source: str | Path | None = None,
    window: StudyWindow | None = None,
    contract_error: ContractError | None = None,
) -> dict[str, Any]:
    """Machine-readable report (schema ``linkage.quality/1``): counts, never values.

    A contract violation (the input could not be loaded) is reported under
    ``contract_violations`` with ``success`` false and no suites.

    Example:
        >>> to_dict([])["schema"]
        'linkage.quality/1'
    """
    violations = contract_error.violations if contract_error else []
    suites = [
        {
            "suite": r.suite,
            "table": r.table,
            "stage": r.stage,
            "success": r.success,
            "error": r.error,
            "expectations": [_expectation_dict(e) for e in r.results],
        }
        for r in results
    ]
    return {
        "schema": SCHEMA,
        "source": str(source) if source is not None else None,
        "window": (window or StudyWindow()).to_dict(),
        "success": not violations and all(r.success for r in results),
        "passed": sum(r.success for r in results),
        "failed": sum(not r.success for r in results),
        "warnings": sum(1 for r in results for e in r.failures if not e.blocking),
        "contract_violations": [
            {"file": v.file, "table": v.table, "column": v.column, "rule": v.rule,
             "n_rows": v.n_rows, "message": v.line}
            for v in violations
        ],  # fmt: skip
        "suites": suites,
    }


def _expectation_dict(e: Any) -> dict[str, Any]:
    d = asdict(e)
    return {"type": d.pop("expectation_type"), "blocking": e.blocking, **d}


def write_json(report: dict[str, Any], path: str | Path) -> Path:
    """Write a :func:`to_dict` report as JSON to ``path`` (atomically); return the path.

    Example:
        >>> write_json(to_dict([]), "/tmp/dq-doc.json").name
        'dq-doc.json'
    """
    return atomic_write_text(path, json.dumps(report, indent=2) + "\n")


def format_summary(results: Sequence[SuiteResult]) -> str:
    """Human summary: one line per failed expectation (counts only) and a final tally.

    Example:
        >>> print(format_summary(results))  # doctest: +SKIP
        [FAIL] table raw_referrals, column referral_id: expect_column_values_to_be_unique: 3 unexpected (0.15%)
        [PASS] table raw_tips: 30 expectations
        1 passed, 1 failed (61 expectations, 0 warnings)
    """  # noqa: E501
    lines: list[str] = []
    for sr in results:
        if sr.error:
            lines.append(f"[FAIL] table {sr.table}: {sr.error}")
        for r in sr.failures:
            lines.append(f"[{'FAIL' if r.blocking else 'WARN'}] {describe_failure(sr.table, r)}")
        if sr.success:
            lines.append(f"[PASS] table {sr.table}: {len(sr.results)} expectations")
    passed = sum(r.success for r in results)
    n_exp = sum(len(r.results) for r in results)
    n_warn = sum(1 for r in results for e in r.failures if not e.blocking)
    lines.append(
        f"{passed} passed, {len(results) - passed} failed "
        f"({n_exp} expectations, {n_warn} warning{'s' * (n_warn != 1)})"
    )
    return "\n".join(lines)


# --- offline HTML -----------------------------------------------------------------------------

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; width: 100%; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: left; vertical-align: top;
         overflow-wrap: break-word; }
th { background: #f3f3f3; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.fail { color: #a00; font-weight: bold; } .warn { color: #a60; } .pass { color: #070; }
code { font-size: .95em; }
"""


def _cell(value: Any, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<td{attr}>{html.escape('' if value is None else str(value))}</td>"


def _status(success: bool, blocking: bool) -> tuple[str, str]:
    if success:
        return "pass", "pass"
    return ("FAIL", "fail") if blocking else ("warn", "warn")


def render_html(report: dict[str, Any]) -> str:
    """One self-contained HTML page for a :func:`to_dict` report (no external resources).

    Example:
        >>> "<script" in render_html(to_dict([]))
        False
    """
    esc = html.escape
    verdict = "passed" if report["success"] else "FAILED"
    win = report["window"]
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        "<title>Data quality: " + esc(verdict) + "</title>", f"<style>{_CSS}</style></head>",
        "<body>", f"<h1>Data quality: {esc(verdict)}</h1>",
        f"<p>Source: <code>{esc(str(report['source']))}</code>. Study window "
        f"{esc(win['start'])} to {esc(win['end'])}, extract date {esc(win['extract'])}. "
        f"Suites: {report['passed']} passed, {report['failed']} failed; "
        f"{report['warnings']} warning(s). Counts only: no record values.</p>",
    ]  # fmt: skip
    if report["contract_violations"]:
        parts.append("<h2>Contract violations (the input could not be loaded)</h2><table>")
        parts.append("<tr><th>table</th><th>column</th><th>rule</th><th>rows</th>"
                     "<th>message</th></tr>")
        for v in report["contract_violations"]:
            parts.append("<tr>" + "".join(
                [_cell(v["table"]), _cell(v["column"]), _cell(v["rule"], "fail"),
                 _cell(v["n_rows"], "n"), _cell(v["message"])]) + "</tr>")  # fmt: skip
        parts.append("</table>")
    if report["suites"]:
        parts.append("<h2>Suites</h2><table><tr><th>suite</th><th>table</th><th>stage</th>"
                     "<th>result</th><th>expectations</th><th>critical failed</th>"
                     "<th>warnings</th></tr>")
        for s in report["suites"]:
            label, cls = _status(s["success"], True)
            failed = [e for e in s["expectations"] if not e["success"]]
            parts.append(
                f'<tr><td><a href="#{esc(s["suite"])}">{esc(s["suite"])}</a></td>'
                + _cell(s["table"]) + _cell(s["stage"]) + _cell(label, cls)
                + _cell(len(s["expectations"]), "n")
                + _cell(sum(e["blocking"] for e in failed), "n")
                + _cell(sum(not e["blocking"] for e in failed), "n") + "</tr>"
            )  # fmt: skip
        parts.append("</table>")
    for s in report["suites"]:
        parts.append(f'<h2 id="{esc(s["suite"])}">{esc(s["suite"])} (table '
                     f"{esc(s['table'])}, stage {esc(s['stage'])})</h2>")
        if s["error"]:
            parts.append(f'<p class="fail">{esc(s["error"])}</p>')
        parts.append("<table><tr><th>result</th><th>severity</th><th>column</th>"
                     "<th>expectation</th><th>unexpected</th><th>%</th>"
                     "<th>observed or error</th></tr>")
        # failures first (critical, then warnings), then the passes in suite order
        for e in sorted(s["expectations"], key=lambda e: (e["success"], not e["blocking"])):
            label, cls = _status(e["success"], e["blocking"])
            pct = None if e["unexpected_percent"] is None else f"{e['unexpected_percent']:.2f}"
            default = " ".join(x for x in (e["type"], e["column"]) if x)
            what = e["type"] + ("" if e["description"] == default else f": {e['description']}")
            parts.append("<tr>" + "".join(
                [_cell(label, cls), _cell(e["severity"]), _cell(e["column"]), _cell(what),
                 _cell(e["unexpected_count"], "n"), _cell(pct, "n"),
                 _cell(e["error"] or e["detail"])]) + "</tr>")  # fmt: skip
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def check_docs_folder(folder: str | Path) -> Path:
    """Refuse a docs folder that holds anything the toolkit did not write (it is replaced
    whole): see :func:`linkage.outputs.check_replaceable`.

    Example:
        >>> check_docs_folder("/tmp/no-such-docs-folder").name
        'no-such-docs-folder'
    """
    return check_replaceable(folder, "docs folder")


def write_docs(report: dict[str, Any], folder: str | Path) -> Path:
    """Write the offline HTML page ``index.html`` into ``folder`` (replaced atomically).

    Raises:
        OutputError: see :func:`check_docs_folder`.

    Example:
        >>> write_docs(to_dict([]), "/tmp/dq-docs-doc").name
        'index.html'
    """
    out = check_docs_folder(folder)
    with atomic_folder(out) as tmp:
        (tmp / "index.html").write_text(render_html(report), encoding="utf-8")
    return out / "index.html"
