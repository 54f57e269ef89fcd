"""Typed summaries a stage hands on: what the report renders and the manifest records.

Counts, settings and figures only, never record-level values. Stages build them (the
quality gates their ``SuiteResult``, the quarantine its ``QuarantineResult``, linkage
its ``LinkFacts``, estimation its ``EstimateFacts``); ``study`` gathers them into a
``StudyManifest``, written as ``manifest.json`` and read by the report, which imports no
stage.

Example:
    >>> StudyManifest(input="generated").to_dict()["input"]
    'generated'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CRITICAL = "critical"
WARNING = "warning"


@dataclass(frozen=True)
class ExpectationResult:
    """Outcome of one expectation: counts only, never record values."""

    expectation_type: str
    column: str | None
    severity: str
    success: bool
    unexpected_count: int | None
    unexpected_percent: float | None
    description: str
    error: str | None = None
    detail: str | None = None  # what GX observed, e.g. "missing: zip", "found String"
    element_count: int | None = None
    index: int | None = None  # position in the suite file's "expectations" list

    @property
    def blocking(self) -> bool:
        """Whether this result stops a run (a critical expectation that failed or errored)."""
        return self.severity == CRITICAL and not self.success


@dataclass(frozen=True)
class SuiteResult:
    """Outcome of one suite on one table; ``success`` is False only for blocking failures."""

    suite: str
    table: str
    stage: str
    success: bool
    results: tuple[ExpectationResult, ...]
    error: str | None = None

    @property
    def failures(self) -> tuple[ExpectationResult, ...]:
        """Failed or errored expectations of any severity."""
        return tuple(r for r in self.results if not r.success)


def describe_failure(table: str, r: ExpectationResult) -> str:
    """One line for a failed expectation: table, column, rule and counts (never values).

    Example:
        >>> r = ExpectationResult("expect_column_values_to_be_unique", "referral_id",
        ...                       CRITICAL, False, 2, 40.0,
        ...                       "expect_column_values_to_be_unique referral_id")
        >>> describe_failure("raw_referrals", r)
        'table raw_referrals, column referral_id: expect_column_values_to_be_unique: 2 unexpected (40.00%)'
    """  # noqa: E501
    where = f"table {table}" + (f", column {r.column}" if r.column else "")
    what = r.expectation_type
    if r.description != " ".join(x for x in (r.expectation_type, r.column) if x):
        what += f" [{r.description}]"
    detail = f" ({r.detail})" if r.detail else ""
    if r.error:
        return f"{where}: {what}: error: {r.error}"
    if r.unexpected_count is None:
        return f"{where}: {what}: failed{detail}"
    pct = f" ({r.unexpected_percent:.2f}%)" if r.unexpected_percent is not None else ""
    return f"{where}: {what}: {r.unexpected_count:,} unexpected{pct}{detail}"


@dataclass(frozen=True)
class QuarantineResult:
    """Counts from :func:`quarantine_stage_dates` (``reasons`` maps reason to row count)."""

    table: str
    quarantine_table: str
    n_rows: int
    n_quarantined: int
    reasons: dict[str, int]

    @property
    def share(self) -> float:
        """Share of the table's rows that are (or would be) quarantined."""
        return self.n_quarantined / self.n_rows if self.n_rows else 0.0


@dataclass(frozen=True)
class LinkFacts:
    """The link stage's settings and counts (``LinkSummary.facts()``).

    Attributes:
        untrained_comparisons: comparisons whose columns carry data but kept Splink's
            default m values (no EM block with pairs left them free).
        em_blocking_rules: the EM training blocks that ran.
        lambda_rule / lambda_rule_recall: the rule lambda was estimated from and its
            estimated recall (None: the assumed starting recall was kept).
        blocking_rules: the rules that generated the candidate pairs.
        n_audit_links / audit_blocking_recall: audit links and the share of them the
            blocking rules generate (blocking recall estimated without truth).
        temporal_step: ``"on"``, or ``"off: <why>"`` when the dates carry no signal.
    """

    threshold: float
    score_floor: float
    probability_two_random_records_match: float
    n_referrals: int
    n_cases: int
    n_candidate_pairs: int
    n_scored_pairs: int
    n_links: int
    n_cases_linked: int
    pseudonymised: bool = False
    untrained_comparisons: tuple[str, ...] = ()
    em_blocking_rules: tuple[str, ...] = ()
    lambda_rule: str = ""
    lambda_rule_recall: float | None = None
    blocking_rules: tuple[str, ...] = ()
    n_audit_links: int = 0
    audit_blocking_recall: float | None = None
    temporal_step: str = ""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LinkFacts:
        """The facts back from their JSON form (lists become the tuples they were).

        Example:
            >>> LinkFacts.from_dict({**LinkFacts(0.5, 0.001, 0.01, 3, 2, 4, 4, 1, 1).__dict__,
            ...                      "blocking_rules": ["l.dob = r.dob"]}).blocking_rules
            ('l.dob = r.dob',)
        """
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


@dataclass(frozen=True)
class EstimateFacts:
    """The estimation stage's settings and counts (``EstimateSummary.facts()``)."""

    primary: str
    n_referrals: int
    n_eligible: int
    censoring: str
    follow_up_days: int
    n_audit_links: int
    audit_missed_share: float | None
    min_numerator: int
    min_denominator: int


@dataclass(frozen=True)
class StudyManifest:
    """What a run did, for ``manifest.json`` and the report (counts and settings only).

    Attributes:
        input: ``"generated"`` or the user's input path.
        scenario: the scenario's parameters (generated data), as plain values.
        quality: every data-quality suite result of the run, in run order.
        timings: the file beside the manifest holding the wall time per stage, the one
            part of a run's outputs that differs between identical runs.
    """

    input: str
    toolkit: str = "linkage"
    versions: Mapping[str, str] = field(default_factory=dict)
    scenario: Mapping[str, Any] | None = None
    seed: int | None = None
    threshold: float | None = None
    backend: str = "duckdb"
    input_sha256: Mapping[str, str] = field(default_factory=dict)
    truth_tables: tuple[str, ...] = ()
    row_counts: Mapping[str, int] = field(default_factory=dict)
    quarantine: QuarantineResult | None = None
    quality: tuple[SuiteResult, ...] = ()
    generated_truth_counts: Mapping[str, int] = field(default_factory=dict)
    linkage: LinkFacts | None = None
    estimation: EstimateFacts | None = None
    timings: str = "timings.json"

    def to_dict(self) -> dict[str, Any]:
        """The manifest as JSON-ready values (``manifest.json``)."""
        q = self.quarantine
        return {
            "toolkit": self.toolkit,
            "versions": dict(self.versions),
            "input": self.input,
            "scenario": None if self.scenario is None else dict(self.scenario),
            "seed": self.seed,
            "threshold": self.threshold,
            "backend": self.backend,
            "input_sha256": dict(self.input_sha256),
            "truth_tables": list(self.truth_tables),
            "row_counts": dict(self.row_counts),
            "quarantine": None if q is None else {
                "table": q.quarantine_table, "rows": q.n_quarantined, "reasons": q.reasons},
            "data_quality": {r.suite: {"success": r.success, "failures": len(r.failures)}
                             for r in self.quality},
            "generated_truth_counts": dict(self.generated_truth_counts),
            "linkage": None if self.linkage is None else dataclasses.asdict(self.linkage),
            "estimation": (None if self.estimation is None
                           else dataclasses.asdict(self.estimation)),
            "timings": self.timings,
        }
