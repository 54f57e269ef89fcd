"""Probabilistic linkage of referrals to case outcomes (Splink, unsupervised).

``link(con)`` builds the staging tables and writes to the study database:

* ``scored_pairs`` - every candidate pair with final match probability >= ``SCORE_FLOOR``:
  referral_id, case_id, match_probability, match_weight, pair_probability,
  identity_probability, identity_weight, temporal_probability, gap_days, gap_bucket,
  same_agency, match_key and the partial match weight (``mw_``) of each comparison;
* ``links`` (contract) - referral_id, case_id, match_probability, match_weight: for each
  referral its best case if that case's probability reaches the threshold. A referral has
  at most one link; a case may take several (repeat suspects);
* ``link_gap_cells`` / ``link_gap_fit`` / ``link_gap_model`` - what the temporal step is
  fitted on, what the fit found, and both side by side.

The match probability is built in two steps, neither of which reads truth:

1. **Identity** (Splink): P(same person). lambda from deterministic rules with a stated
   recall assumption, u by seeded random sampling, m by EM on tight blocks
   (:mod:`linkage.linking.model`).
2. **Temporal**: one person is often in several referrals, but only some join the case,
   and identifiers cannot tell them apart. P(this referral is the case's | same person)
   is the posterior of a two-class mixture over the gap between referral and case
   opening (links: fitted, anchored on an assumed lag distribution; other pairs: the
   random-pair distribution) and agency agreement, fitted by EM on likely same-person
   pairs (``temporal.fit_temporal``). No one-case-one-referral constraint: agencies
   may merge a suspect's referrals into one case; but a referral from another agency is
   discounted when the case has a likely referral of the person from its own agency.

Default threshold 0.5: (1) with calibrated probabilities it is the Bayes rule when a false
link and a missed link cost the same - they bias conversion rates by similar amounts in
opposite directions, so neither is favoured; (2) the threshold that maximises expected F1
is half the attainable F1 (Lipton, Elkan & Naryanaswamy 2014), about 0.5 when F1 is high.
The probabilities are not guaranteed calibrated: the reliability table of
:mod:`linkage.linking.metrics` shows how far off they are.

Splink runs in its own in-memory DuckDB connection fed with Arrow copies of the staged
tables, so none of its ``__splink__`` intermediates reach (and bloat) the study file; the
connection is closed afterwards, dropping them all.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from splink import DuckDBAPI, Linker

from linkage.db import build_table, quote_ident, quote_literal
from linkage.defaults import DEFAULT_SEED
from linkage.errors import ConfigError, LinkModelError, ToolkitError
from linkage.ingest.staging import build_staging
from linkage.linking import model as lm
from linkage.linking._splink_sql_cache import memoised_exact_match
from linkage.linking.blocking import choose_blocking
from linkage.linking.charts import model_charts
from linkage.linking.metrics import audit_blocking_recall
from linkage.linking.model import LinkModel, model_for
from linkage.linking.scoring import write_scored_pairs
from linkage.linking.spark import BACKENDS
from linkage.linking.temporal import TemporalFit, fit_temporal
from linkage.linking.training import TrainingReport, train, u_sample_pairs
from linkage.summaries import LinkFacts

__all__ = ["LinkSummary", "TemporalFit", "fit_temporal", "link"]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str], None]


@dataclass(frozen=True)
class LinkSummary:
    """What a linkage run did (counts only, never identifiers).

    Attributes:
        n_referrals: referrals staged.
        n_cases: case outcomes staged.
        n_candidate_pairs: pairs produced by the blocking rules (before scoring).
        n_scored_pairs: rows in ``scored_pairs`` (probability >= ``score_floor``).
        n_links: rows in ``links`` (referrals linked).
        n_cases_linked: distinct cases among the links.
        threshold: match-probability threshold used for ``links``.
        score_floor: lower probability bound of ``scored_pairs``.
        probability_two_random_records_match: the prior (lambda) the model used.
        model: the trained identity model (Splink settings as a dict, as saved to JSON).
        temporal: the fitted temporal step (see ``link_model.fit_temporal``).
        model_path: where the model JSON was written, if anywhere.
        charts: offline (self-contained) HTML of the model charts, by name.
        seconds: wall time of each step.
        pseudonymised: the input was pseudonymised (linked with
            ``model.PSEUDONYMISED_MODEL``).
        training: the EM blocks run, the comparisons left untrained and how lambda was
            estimated (:mod:`linkage.linking.training`).
        blocking_rules: the rules that generated the candidate pairs.
        n_audit_links / audit_blocking_recall: audit links (cases that recorded the tip
            number) and the share of them the blocking rules generate (no truth read).
    """

    n_referrals: int
    n_cases: int
    n_candidate_pairs: int
    n_scored_pairs: int
    n_links: int
    n_cases_linked: int
    threshold: float
    score_floor: float
    probability_two_random_records_match: float
    model: dict[str, Any] = field(repr=False)
    temporal: TemporalFit | None = None
    model_path: Path | None = None
    charts: dict[str, str] = field(default_factory=dict, repr=False)
    seconds: dict[str, float] = field(default_factory=dict)
    pseudonymised: bool = False
    training: TrainingReport | None = None
    blocking_rules: tuple[str, ...] = ()
    n_audit_links: int = 0
    audit_blocking_recall: float | None = None

    def facts(self) -> LinkFacts:
        """The settings and counts the report and the manifest record."""
        tr = self.training
        return LinkFacts(
            threshold=self.threshold, score_floor=self.score_floor,
            probability_two_random_records_match=self.probability_two_random_records_match,
            n_referrals=self.n_referrals, n_cases=self.n_cases,
            n_candidate_pairs=self.n_candidate_pairs, n_scored_pairs=self.n_scored_pairs,
            n_links=self.n_links, n_cases_linked=self.n_cases_linked,
            pseudonymised=self.pseudonymised,
            untrained_comparisons=tr.untrained if tr else (),
            em_blocking_rules=tr.em_rules if tr else (),
            lambda_rule=tr.deterministic_rule if tr else "",
            lambda_rule_recall=tr.deterministic_recall if tr else None,
            blocking_rules=self.blocking_rules, n_audit_links=self.n_audit_links,
            audit_blocking_recall=self.audit_blocking_recall,
            temporal_step=_temporal_state(self.temporal))

    def write_charts(self, folder: str | Path) -> list[Path]:
        """Write each chart to ``<folder>/<name>.html``; return the paths.

        Example:
            >>> summary.write_charts("study_out/charts")  # doctest: +SKIP
            [PosixPath('study_out/charts/match_weights.html'), ...]
        """
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, html in self.charts.items():
            path = out / f"{name}.html"
            # Altair names each chart's element with a random id: name it for the chart, so
            # that the same run writes the same bytes.
            path.write_text(re.sub(r"splink-chart-[0-9a-f]{32}", f"splink-chart-{name}", html),
                            encoding="utf-8")
            paths.append(path)
        return paths


def reproducible_model(model: dict[str, Any]) -> dict[str, Any]:
    """The saved model with Splink's random ``linker_uid`` (an in-session cache name)
    replaced by a hash of the rest, so the same run writes the same model file.

    Example:
        >>> reproducible_model({"linker_uid": "x1y2z3w4", "link_type": "link_only"})
        {'linker_uid': '137bc189', 'link_type': 'link_only'}
    """
    body = {k: v for k, v in model.items() if k != "linker_uid"}
    uid = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8]
    return {k: uid if k == "linker_uid" else v for k, v in model.items()}


def link(
    con: duckdb.DuckDBPyConnection,
    *,
    threshold: float | None = None,
    model_path: str | Path | None = None,
    seed: int = DEFAULT_SEED,
    on_progress: ProgressCallback | None = None,
    u_max_pairs: float | None = None,
    em_max_pairs: float = 2e6,
    model: LinkModel | None = None,
    backend: str = "duckdb",
    charts: bool = True,
    memoise_sql: bool = True,
) -> LinkSummary:
    """Link referrals to case outcomes and write ``scored_pairs`` and ``links``.

    Args:
        con: study database holding ``raw_referrals`` and ``raw_case_outcomes``.
        threshold: match-probability threshold for ``links`` (default 0.5: see above).
        model_path: where to save the trained model as Splink JSON (not saved if None;
            the model is always in ``LinkSummary.model``).
        seed: seed of the random sampling that estimates u.
        on_progress: called with the name of each step as it starts.
        u_max_pairs: random pairs for u (None: sized to the input, ``u_sample_pairs``).
        em_max_pairs: cap on pairs per EM block.
        model: the linkage model (``model.CLEAR_MODEL`` or ``model.PSEUDONYMISED_MODEL``);
            None = chosen for the input (pseudonymised input carries a ``pseudo_scheme``
            column).
        backend: where Splink trains and scores: ``"duckdb"`` (in-process) or ``"spark"``
            (:mod:`linkage.linking.spark`; the model is retrained there from the same
            settings). Staging, the temporal step and ``links`` are DuckDB either way.
        charts: draw Splink's charts. memoise_sql: memoise Splink's exact-match detection
            (same scores, less CPU; False: as Splink alone; ``_splink_sql_cache``).

    Returns:
        A ``LinkSummary`` with counts, the model, offline chart HTML and step timings.

    Raises:
        LinkModelError: the model cannot be trained or applied to these data.
        BackendError: ``backend="spark"`` without pyspark or Java.

    Example:
        >>> from linkage.db import connect
        >>> con = connect("study.duckdb")  # doctest: +SKIP
        >>> link(con, model_path="study_out/model.json").n_links  # doctest: +SKIP
        4180
    """
    threshold = lm.DEFAULT_THRESHOLD if threshold is None else float(threshold)
    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"threshold must be in (0, 1], got {threshold!r}")
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    timer = _Timer(on_progress)
    spec = model_for(con) if model is None else model
    timer.step("staging")
    n_ref, n_case = _stage(con, spec)
    spec = choose_blocking(con, spec)
    u_max_pairs = u_sample_pairs(n_ref, n_case) if u_max_pairs is None else u_max_pairs
    splink = _run_splink(con, spec, backend, timer, seed=seed, u_max_pairs=u_max_pairs,
                         em_max_pairs=em_max_pairs, charts=charts, memoise_sql=memoise_sql)
    if model_path is not None:
        model_path = Path(model_path)
        model_path.parent.mkdir(parents=True, exist_ok=True)
        model_path.write_text(json.dumps(reproducible_model(splink.model), indent=2))

    timer.step("links")
    n_links, n_cases_linked, n_scored = _write_links(con, threshold)
    timer.step(None)
    log.info("%d candidate pairs, %d scored >= %.3g, %d links at p >= %.3g",
             splink.n_candidates, n_scored, lm.SCORE_FLOOR, n_links, threshold)
    n_audit, audit_recall = _audit(con, spec)
    return LinkSummary(
        n_referrals=n_ref, n_cases=n_case, n_candidate_pairs=splink.n_candidates,
        n_scored_pairs=n_scored, n_links=n_links, n_cases_linked=n_cases_linked,
        threshold=threshold, score_floor=lm.SCORE_FLOOR,
        probability_two_random_records_match=splink.lam, model=splink.model,
        temporal=splink.temporal, model_path=model_path, charts=splink.charts,
        seconds=timer.seconds, pseudonymised=spec.pseudonymised,
        training=splink.training, blocking_rules=spec.blocking_rules,
        n_audit_links=n_audit, audit_blocking_recall=audit_recall)


def _audit(con: duckdb.DuckDBPyConnection, spec: LinkModel) -> tuple[int, float | None]:
    n_audit, recall = audit_blocking_recall(con, spec.blocking_rules)
    if recall is not None:
        log.info("blocking generates %.4f of the %d audit links", recall, n_audit)
    return n_audit, recall


def _write_links(con: duckdb.DuckDBPyConnection, threshold: float) -> tuple[int, int, int]:
    """Build ``links``; return its rows, its distinct cases and the scored pairs."""
    build_table(con, "marts/links.sql", {"threshold": threshold})
    n_links, n_cases_linked = con.sql(
        "select count(*), count(distinct case_id) from links").fetchall()[0]
    return n_links, n_cases_linked, _count(con, "scored_pairs")


def _temporal_state(fit: TemporalFit | None) -> str:
    if fit is None:
        return ""
    return "on" if fit.active else f"off: {fit.reason}"


class _Timer:
    """Times named steps and reports each start to the progress callback."""

    def __init__(self, on_progress: ProgressCallback | None) -> None:
        self.on_progress = on_progress
        self.seconds: dict[str, float] = {}
        self.current: str | None = None
        self._t0 = time.perf_counter()

    def step(self, name: str | None) -> None:
        now = time.perf_counter()
        if self.current is not None:
            self.seconds[self.current] = round(now - self._t0, 3)
        self.current, self._t0 = name, now
        if name is not None:
            log.debug("link step: %s", name)
            if self.on_progress is not None:
                self.on_progress(name)


def _stage(con: duckdb.DuckDBPyConnection, spec: LinkModel) -> tuple[int, int]:
    """Build the staged tables for ``spec``'s encoding; the referrals and cases staged."""
    if spec.pseudonymised:
        log.info("pseudonymised input: linking on tokens and encodings")
    build_staging(con, pseudonymised=spec.pseudonymised)
    n_ref, n_case = _count(con, "stg_referrals"), _count(con, "stg_case_outcomes")
    if n_ref == 0 or n_case == 0:
        raise LinkModelError(
            f"nothing to link: {n_ref} referral(s) and {n_case} case outcome(s) staged")
    log.info("staged %d referrals and %d case outcomes", n_ref, n_case)
    return n_ref, n_case


@dataclass(frozen=True)
class _SplinkRun:
    """What the Splink part of a link run produced."""

    model: dict[str, Any]
    lam: float
    n_candidates: int
    temporal: TemporalFit
    charts: dict[str, str]
    training: TrainingReport


def _run_splink(con: duckdb.DuckDBPyConnection, spec: LinkModel, backend: str, timer: _Timer,
                *, seed: int, u_max_pairs: float, em_max_pairs: float,
                charts: bool = True, memoise_sql: bool = True) -> _SplinkRun:
    """Train and score in Splink's own connection, write ``scored_pairs``, draw the charts."""
    memo = memoised_exact_match() if memoise_sql else contextlib.nullcontext()
    with memo, tempfile.TemporaryDirectory(prefix="linkage_splink_") as tmp:
        work = _work_connection(con, tmp)
        spark = None
        try:
            timer.step("train")
            if backend == "spark":  # optional extra, imported only when asked for
                from linkage.linking.spark import SparkBackend

                spark = SparkBackend(tmp)
                db_api = spark.api
                spark.mirror_inputs(con, work, _STAGED)
            else:
                db_api = DuckDBAPI(work)
            linker, inputs = _linker(con, db_api, spec)
            linker, lam, trained = train(linker, inputs, con, spec, seed=seed,
                                         u_max_pairs=u_max_pairs, em_max_pairs=em_max_pairs)
            model = linker.misc.save_model_to_json()

            timer.step("predict")
            n_candidates = _count_candidates(linker)
            predictions = linker.inference.predict(threshold_match_probability=lm.SCORE_FLOOR)
            local = spark.to_duckdb(predictions, work) if spark else predictions
            temporal = write_scored_pairs(con, work, local, spec.mw_columns)

            timer.step("charts")
            chart_html = model_charts(linker, predictions, work, db_api) if charts else {}
        except ToolkitError:
            raise
        except Exception as exc:  # Splink raises many types; name the step that failed
            raise LinkModelError(f"Splink failed during '{timer.current}': {exc}") from exc
        finally:
            work.close()
            if spark is not None:
                spark.close()
    return _SplinkRun(model, lam, n_candidates, temporal, chart_html, trained)


_STAGED = {lm.CASES_DATASET: "stg_case_outcomes", lm.REFERRALS_DATASET: "stg_referrals"}


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return con.sql(f"select count(*) from {quote_ident(table)}").fetchall()[0][0]


def _work_connection(con: duckdb.DuckDBPyConnection, tmp: str) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with the study connection's thread and memory settings."""
    work = duckdb.connect(":memory:")
    settings = dict(
        con.sql(
            "select name, value from duckdb_settings() where name in ('threads', 'memory_limit')"
        ).fetchall()
    )
    work.execute(f"set threads = {int(settings.get('threads', 1))}")
    if settings.get("memory_limit"):
        work.execute(f"set memory_limit = {quote_literal(settings['memory_limit'])}")
    work.execute(f"set temp_directory = {quote_literal(tmp)}")
    work.execute("set enable_progress_bar = false")
    return work


def _linker(con: duckdb.DuckDBPyConnection, db_api: DuckDBAPI,
            model: LinkModel) -> tuple[Linker, list[Any]]:
    """A linker on the staged tables for ``model``'s settings, and its registered inputs."""
    cases = db_api.register(
        con.sql("select * from stg_case_outcomes").to_arrow_table(),
        dataset_display_name=lm.CASES_DATASET,
    )
    refs = db_api.register(
        con.sql("select * from stg_referrals").to_arrow_table(),
        dataset_display_name=lm.REFERRALS_DATASET,
    )
    return Linker([cases, refs], model.settings(), log_level=None), [cases, refs]


def _count_candidates(linker: Linker) -> int:
    # Materialise the blocked pairs that predict() scores next: Splink caches them, so
    # blocking runs once (a separate exact count was a second blocking pass, a third of
    # the prediction step at national scale).
    blocked = linker.inference.compute_blocked_pairs_for_predict()
    return int(blocked.query_sql("select count(*) as n from {this}").as_record_list()[0]["n"])


