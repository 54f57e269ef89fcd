"""``scored_pairs``: Splink's identity scores times the temporal step, in the study database.

The identity scores come out of Splink's own connection as an Arrow view; the temporal
step's cells, fit and model are built from them (:mod:`linkage.linking.temporal`), then
every candidate pair at or above the score floor with its final match probability.
"""

from __future__ import annotations

import logging
from typing import Any

import duckdb

from linkage.db import build_from_frame, build_table, quote_ident
from linkage.linking import model as lm
from linkage.linking import temporal as tm
from linkage.linking.temporal import TemporalFit, fit_or_switch_off

log = logging.getLogger(__name__)


def write_scored_pairs(
    con: duckdb.DuckDBPyConnection,
    work: duckdb.DuckDBPyConnection,
    predictions: Any,
    mw_columns: tuple[str, ...] = lm.MW_COLUMNS,
) -> TemporalFit:
    """Copy the identity scores out of Splink, add the temporal step, write scored_pairs."""
    mw_cols = ", ".join(mw_columns)
    # Orientation is by dataset name; pick each id by its source so renaming cannot flip it.
    identity = work.sql(
        f"""
        select
            case when source_dataset_l = $ref then unique_id_l else unique_id_r end
                as referral_id,
            case when source_dataset_l = $ref then unique_id_r else unique_id_l end
                as case_id,
            match_probability as identity_probability,
            match_weight as identity_weight,
            date_diff(
                'day',
                coalesce(referral_date_l, referral_date_r),
                coalesce(case_opened_date_l, case_opened_date_r)
            ) as gap_days,
            agency_id_l = agency_id_r as same_agency,
            match_key,
            {mw_cols}
        from {quote_ident(predictions.physical_name)}
        """,
        params={"ref": lm.REFERRALS_DATASET},
    )
    con.register("linkage_identity_pairs", identity.to_arrow_table())
    try:
        build_table(
            con,
            "intermediate/link_gap_cells.sql",
            {
                "bucket_names": [b[0] for b in tm.GAP_BUCKETS],
                "bucket_lo": [b[1] for b in tm.GAP_BUCKETS],
                "bucket_hi": [b[2] for b in tm.GAP_BUCKETS],
                "m_gap": list(tm.GAP_M),
                "identity_floor": tm.RHO_IDENTITY_FLOOR,
            },
        )
        rows = con.sql(
            "select bucket_order - 1, u_gap, same_agency, n_same_person_pairs from link_gap_cells"
        ).fetchall()
        fit = fit_or_switch_off(rows)
        if not fit.active:
            log.warning("temporal step off: %s; linking on identity alone", fit.reason)
        build_from_frame(con, "intermediate/link_gap_fit.sql", "link_gap_fit_input", {
            "bucket_order": list(range(1, len(fit.m_gap) + 1)),
            "m_gap": list(fit.m_gap),
            "rho": [fit.rho] * len(fit.m_gap),
            "m_agency": [fit.m_agency] * len(fit.m_gap),
            "u_agency": [fit.u_agency] * len(fit.m_gap),
            "iterations": [fit.iterations] * len(fit.m_gap),
        })
        build_table(con, "marts/link_gap_model.sql")
        build_table(
            con,
            "intermediate/scored_pairs.sql",
            {"score_floor": lm.SCORE_FLOOR, "m_agency": tm.M_AGENCY,
             "temporal_on": fit.active},
        )
    finally:
        con.unregister("linkage_identity_pairs")
    return fit


