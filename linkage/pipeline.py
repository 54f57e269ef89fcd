"""The run order of every SQL file the toolkit runs, and which stage owns each table.

One place to read the data flow: each stage's steps are listed in the order they run, each
step a file under ``sql/`` that builds the one table it is named for (``db.build_table``
refuses a file that is not listed here) or, for ``Macros``, defines DuckDB macros the
stage's tables use. Layers follow dbt's: ``staging`` (standardise, no joins but lookups),
``intermediate`` (the tables the stages compute on: pairs, fitted parameters, the
estimators' raw output), ``marts`` (what users and the report read).

Example:
    >>> owner("links")
    'linking'
    >>> [s.table for s in LINKING[:3]]
    ['link_blocking_rules', 'link_gap_cells', 'link_gap_fit']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True)
class Step:
    """One SQL file: ``file`` under ``sql/`` and the stage that owns what it builds."""

    file: str
    owner: str
    macros: bool = False

    @property
    def table(self) -> str:
        """The table the file builds (its stem); macro files build none."""
        return PurePosixPath(self.file).stem


def _steps(owner: str, *files: str) -> tuple[Step, ...]:
    return tuple(Step(f, owner) for f in files)


def _macros(owner: str, file: str) -> Step:
    return Step(file, owner, macros=True)


GENERATION: tuple[Step, ...] = (
    _macros("generation", "generate/gen_macros.sql"),
    *_steps("generation",
            "generate/gen_people.sql",
            "generate/gen_tips.sql",
            "generate/gen_referrals.sql",
            "generate/gen_case_outcomes.sql",
            "generate/truth_links.sql",
            "generate/truth_referrals.sql"),
)
"""The generator's work tables (in its own scratch database), in the order drawn."""

QUARANTINE: tuple[Step, ...] = _steps("ingest", "staging/quarantine_case_outcomes.sql")
"""Case records set aside with a reason (``raw_case_outcomes`` itself stays as loaded)."""

STAGING: tuple[Step, ...] = (
    _macros("ingest", "staging/stg_macros.sql"),
    *_steps("ingest",
            "staging/stg_nicknames.sql",
            "staging/stg_referrals.sql",
            "staging/stg_case_outcomes.sql"),
)
"""Clear input standardised for linkage (the cleaning rules are the macros)."""

STAGING_PSEUDONYMISED: tuple[Step, ...] = _steps(
    "ingest",
    "staging_pseudonymised/stg_referrals.sql",
    "staging_pseudonymised/stg_case_outcomes.sql",
)
"""Pseudonymised input: tokens renamed into the same staged column set, nothing cleaned."""

PSEUDONYMISE: tuple[Step, ...] = (
    _macros("ingest", "pseudonymize/pseudo_macros.sql"),
    *_steps("ingest",
            "pseudonymize/pseudo_tip_subjects.sql",
            "pseudonymize/pseudo_bloom_inputs.sql",
            "pseudonymize/pseudo_bloom_grams.sql",
            "pseudonymize/pseudo_bloom_values.sql",
            "pseudonymize/pseudo_subjects.sql",
            "pseudonymize/pseudo_tips.sql",
            "pseudonymize/pseudo_referrals.sql",
            "pseudonymize/pseudo_case_outcomes.sql",
            "pseudonymize/pseudo_truth_referrals.sql"),
)
"""``linkage pseudonymize``: tokens and encodings of the staged identifiers."""

LINKING: tuple[Step, ...] = _steps(
    "linking",
    "intermediate/link_blocking_rules.sql",
    "intermediate/link_gap_cells.sql",
    "intermediate/link_gap_fit.sql",
    "marts/link_gap_model.sql",
    "intermediate/scored_pairs.sql",
    "marts/links.sql",
)
"""The blocking rules run, the temporal step (cells, fitted parameters, the model as one
table), the scored pairs and the links."""

EVALUATION: tuple[Step, ...] = _steps(
    "linking",
    "marts/baseline_links.sql",
    "marts/link_metrics.sql",
    "marts/link_reliability.sql",
    "marts/link_error_rates.sql",
    "marts/link_threshold_sweep.sql",
)
"""Linkage quality against the truth (synthetic data only)."""

REVIEW_SAMPLE: tuple[Step, ...] = _steps(
    "review",
    "review/review_frame.sql",
    "review/review_strata.sql",
    "review/review_sample.sql",
    "review/review_sheet.sql",
)
"""``linkage review sample``: every referral with its stratum (offense type x the band of
its best match probability), the allocation, the drawn referrals and the rows a reviewer
reads (each sampled referral beside its candidate cases)."""

REVIEW_LABELS: tuple[Step, ...] = _steps("review", "review/review_labels.sql")
"""``linkage review import``: the reviewer's decisions, validated against the sheet."""

REVIEW_ESTIMATES: tuple[Step, ...] = _steps(
    "review",
    "review/review_outcomes.sql",
    "review/review_error_rates.sql",
    "review/review_conversion_rates.sql",
)
"""Design-weighted estimates from the labels: false- and missed-link rates, and the
review-corrected conversion rates per offense type and stage."""

ESTIMATION_INPUTS: tuple[Step, ...] = _steps(
    "estimation",
    "intermediate/rates_referrals.sql",
    "intermediate/rates_pairs.sql",
)
"""What every estimator reads: one row per referral, one per candidate pair."""

ESTIMATION: tuple[Step, ...] = _steps(
    "estimation",
    "intermediate/rate_cells.sql",
    "marts/conversion_rates.sql",
    "marts/conversion_rates_strata.sql",
    "marts/conversion_rates_methods.sql",
    "marts/rates_calibration.sql",
    "marts/rates_missed_links.sql",
    "marts/rates_tip_funnel.sql",
    "marts/conversion_rates_horizons.sql",
)
"""The estimators' cells (from their numpy output) and the published tables."""

COMPARISONS: tuple[Step, ...] = _steps(
    "estimation",
    "intermediate/threshold_cells.sql",
    "marts/conversion_rates_threshold.sql",
    "intermediate/rates_truth.sql",
    "intermediate/truth_cells.sql",
    "marts/conversion_rates_truth.sql",
    "intermediate/truth_horizons.sql",
)
"""What the report reads beside the primary estimate: the threshold estimator at other
thresholds and, on synthetic data, the truth under the same censoring."""

RUN_ORDER: tuple[tuple[str, tuple[Step, ...]], ...] = (
    ("generation", GENERATION),
    ("quarantine", QUARANTINE),
    ("staging", STAGING),
    ("staging_pseudonymised", STAGING_PSEUDONYMISED),
    ("pseudonymise", PSEUDONYMISE),
    ("linking", LINKING),
    ("evaluation", EVALUATION),
    ("review_sample", REVIEW_SAMPLE),
    ("review_labels", REVIEW_LABELS),
    ("review_estimates", REVIEW_ESTIMATES),
    ("estimation_inputs", ESTIMATION_INPUTS),
    ("estimation", ESTIMATION),
    ("comparisons", COMPARISONS),
)
"""Every step group in the order a study runs them (a study runs one of the two stagings;
``pseudonymise`` and the review steps are their own commands)."""

_BY_FILE: dict[str, Step] = {s.file: s for _, group in RUN_ORDER for s in group}


def step(file: str) -> Step:
    """The listed step of ``file`` (a path under ``sql/``).

    Raises:
        KeyError: the file is not listed in the run order.

    Example:
        >>> step("marts/links.sql").owner
        'linking'
    """
    try:
        return _BY_FILE[file]
    except KeyError:
        raise KeyError(f"SQL file {file} is not listed in linkage/pipeline.py") from None


def files() -> tuple[str, ...]:
    """Every listed file, in run order (each exactly once)."""
    return tuple(_BY_FILE)


def owner(table: str) -> str:
    """The stage that owns ``table`` (built by a listed file of that name).

    Example:
        >>> owner("conversion_rates")
        'estimation'
    """
    owners = {s.owner for s in _BY_FILE.values() if not s.macros and s.table == table}
    if len(owners) != 1:
        raise KeyError(f"table {table} is built by no listed SQL file (or by two stages)")
    return owners.pop()


def tables(group: tuple[Step, ...]) -> tuple[str, ...]:
    """The tables a group of steps builds, in order."""
    return tuple(s.table for s in group if not s.macros)
