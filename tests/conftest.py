"""Shared fixtures. Loader fixtures are named ``contract_*``."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from linkage.db import quote_ident, quote_literal

Rows = dict[str, list[dict[str, str]]]

_TIP = {
    "tip_id": "", "received_at": "", "reporter_type": "esp", "reporter_name": "MailCo",
    "incident_type": "apparent_csam", "is_urgent": "false", "file_count": "2",
    "suspect_email": "", "suspect_username": "", "suspect_phone": "", "suspect_ip": "",
    "suspect_first_name": "", "suspect_last_name": "", "suspect_dob": "", "country": "US",
    "state": "CA",
}  # fmt: skip
_REFERRAL = {
    "referral_id": "", "tip_id": "", "referred_at": "", "agency_id": "ICAC-CA",
    "agency_state": "CA", "offense_type": "possession", "priority": "1", "first_name": "Al",
    "last_name": "Smith", "dob": "1990-05-01", "email": "al@example.org", "phone": "",
    "username": "", "ip": "", "city": "Fresno", "state": "CA", "zip": "93701",
}  # fmt: skip
_CASE = {
    "case_id": "", "agency_id": "ICAC-CA", "opened_at": "2024-02-01", "first_name": "Al",
    "last_name": "Smith", "dob": "1990-05-01", "email": "", "phone": "", "username": "",
    "city": "Fresno", "state": "CA", "zip": "93701", "offense_charged": "possession",
    "investigated": "true", "arrested_at": "", "charged_at": "", "convicted_at": "",
    "cybertip_ref": "",
}  # fmt: skip


@pytest.fixture
def contract_rows() -> Rows:
    """A tiny valid input (3 tips, 3 referrals, 2 cases) as text rows, with an extra column."""
    tips = [
        {**_TIP, "tip_id": "T1", "received_at": "2024-01-01 10:00:00", "is_urgent": "TRUE"},
        {**_TIP, "tip_id": "T2", "received_at": "2024-01-02 11:30:00", "file_count": ""},
        {**_TIP, "tip_id": "T3", "received_at": "2024-01-03T09:00:00", "reporter_name": "  "},
    ]
    for tip in tips:
        tip["note"] = "extra"
    referrals = [
        {**_REFERRAL, "referral_id": "R1", "tip_id": "T1", "referred_at": "2024-01-05 08:00:00"},
        {**_REFERRAL, "referral_id": "R2", "tip_id": "T1", "referred_at": "2024-01-06 08:00:00"},
        {**_REFERRAL, "referral_id": "R3", "tip_id": "T3", "referred_at": "2024-01-04 08:00:00"},
    ]
    cases = [
        {**_CASE, "case_id": "C1", "cybertip_ref": "T1", "arrested_at": "2024-03-01"},
        # Stages out of order: a data-quality finding, not a load error.
        {**_CASE, "case_id": "C2", "investigated": "yes", "arrested_at": "2023-12-01"},
    ]
    return {"tips": tips, "referrals": referrals, "case_outcomes": cases}


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def contract_write(tmp_path: Path) -> Callable[..., Path]:
    """Write rows as a folder of CSV or Parquet files, or as a DuckDB file; return its path.

    Parquet and DuckDB tables get DuckDB's sniffed (typed) columns, as a real extract would.
    """

    def write(rows: Rows, fmt: str = "csv", name: str = "input") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        for table, table_rows in rows.items():
            _write_csv(folder / f"{table}.csv", table_rows)
        if fmt == "csv":
            return folder
        db_path = tmp_path / f"{name}.duckdb"
        con = duckdb.connect(str(db_path) if fmt == "duckdb" else ":memory:")
        for table in rows:
            csv_path = folder / f"{table}.csv"
            read = f"select * from read_csv({quote_literal(str(csv_path))}, header=true)"
            if fmt == "duckdb":
                con.execute(f"create table {quote_ident(table)} as {read}")
            else:
                target = quote_literal(str(folder / f"{table}.parquet"))
                con.execute(f"copy ({read}) to {target} (format parquet)")
            csv_path.unlink()
        con.close()
        return db_path if fmt == "duckdb" else folder

    return write
