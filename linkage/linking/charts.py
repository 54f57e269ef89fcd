"""Splink's model charts as offline HTML: match weights, m/u, the weights histogram and,
from the audit sample, a threshold-selection chart. The truth is never read."""

from __future__ import annotations

import logging
from typing import Any

import duckdb
from splink import Linker

from linkage.linking import model as lm

log = logging.getLogger(__name__)


MIN_AUDIT_LABELS = 20
"""Audit links needed before the threshold-selection chart is drawn from them."""


def _audit_labels(work: duckdb.DuckDBPyConnection, db_api: Any) -> Any:
    """Pairwise labels from the audit sample, for Splink's threshold-selection chart: a
    case that recorded a tip number matches that tip's referrals (1) and none of the other
    referrals of its agency that share an e-mail, phone or name with it (0). The truth is
    never read. Returns a registered table, or None when there are too few audit links."""
    labels = work.sql(
        """
        with audit as (
            select c.unique_id as case_id, r.unique_id as referral_id, 1.0 as score
            from case_outcomes as c
            inner join referrals as r on r.tip_ref = c.tip_ref
        ),
        others as (
            select c.unique_id as case_id, r.unique_id as referral_id, 0.0 as score
            from case_outcomes as c
            inner join referrals as r
                on r.agency_id = c.agency_id
                and (r.email = c.email or r.phone = c.phone
                     or (r.first_name = c.first_name and r.last_name = c.last_name))
            where c.tip_ref is not null and r.tip_ref is distinct from c.tip_ref
        )
        select $cases as source_dataset_l, case_id as unique_id_l,
               $refs as source_dataset_r, referral_id as unique_id_r,
               score as clerical_match_score
        from (select * from audit union all select * from others)
        """,
        params={"cases": lm.CASES_DATASET, "refs": lm.REFERRALS_DATASET},
    ).to_arrow_table()
    n_audit = sum(1 for v in labels.column("clerical_match_score").to_pylist() if v == 1.0)
    if n_audit < MIN_AUDIT_LABELS:
        log.info("threshold-selection chart skipped: %d audit links", n_audit)
        return None
    return db_api.register(labels, table_name="linkage_audit_labels")


def model_charts(linker: Linker, predictions: Any, work: duckdb.DuckDBPyConnection,
            db_api: Any) -> dict[str, str]:
    """Splink's model charts as self-contained HTML (no CDN), by name."""
    charts = {
        "match_weights": linker.visualisations.match_weights_chart(),
        "m_u_parameters": linker.visualisations.m_u_parameters_chart(),
        "match_weights_histogram": linker.visualisations.match_weights_histogram(predictions),
    }
    labels = _audit_labels(work, db_api)
    if labels is not None:
        # Splink's label evaluation needs the matching columns, which predict() does not
        # keep (they would double the width of every candidate pair): a second linker on
        # the same trained model keeps them, and scores only the labelled pairs.
        model = {**linker.misc.save_model_to_json(), "retain_matching_columns": True}
        inputs = [db_api.register(lm.CASES_DATASET), db_api.register(lm.REFERRALS_DATASET)]
        labelled = Linker(inputs, model, log_level=None)
        table = labelled.table_management.register_labels_table(labels)
        charts["threshold_selection_audit"] = (
            labelled.evaluation.accuracy_analysis_from_labels_table(
                table, output_type="threshold_selection", add_metrics=["f1"]))
    return {name: chart.to_html(inline=True) for name, chart in charts.items()}
