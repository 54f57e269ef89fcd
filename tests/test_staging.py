"""Staging SQL on tiny literal rows: exact expected rows (spec tests)."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pytest

from linkage.contract import CASE_OUTCOMES, REFERRALS
from linkage.ingest.staging import build_staging

STAGED = (
    "unique_id, referral_date, case_opened_date, agency_id, tip_ref, first_name, last_name, "
    "full_name, dob, email, email_name, phone, username, city, state, zip"
)


def _create(con: duckdb.DuckDBPyConnection, table, name: str) -> None:
    cols = ", ".join(f"{c.name} {c.dtype}" for c in table.columns)
    con.execute(f"create table {name} ({cols})")


def _referral(rid: str, **values) -> dict:
    row = dict.fromkeys(REFERRALS.column_names)
    row.update(
        referral_id=rid,
        tip_id="T" + rid,
        referred_at=datetime(2024, 3, 1, 9, 30),
        agency_id="A1",
        offense_type="csam",
    )
    row.update(values)
    return row


@pytest.fixture()
def con():
    con = duckdb.connect()
    _create(con, REFERRALS, "raw_referrals")
    _create(con, CASE_OUTCOMES, "raw_case_outcomes")
    rows = [
        _referral(
            "R1",
            first_name=" Bob ",
            last_name="O'Brién-Smith",
            dob=date(1990, 2, 3),
            email=" Foo.Bar@Mail.COM ",
            phone="+1 (555) 123-4567",
            username=" User_1 ",
            city="  New   York ",
            state="ny",
            zip="2134",
        ),
        _referral(
            "R2",
            first_name="",
            last_name=None,
            phone="15551234567",
            state="Texas",
            zip="78701-1234",
            email="  ",
        ),
        _referral("R3", first_name="JOSÉ", phone="555.123.4567", zip="12"),
    ]
    for row in rows:
        con.execute(
            f"insert into raw_referrals by name select {', '.join(f'${k} as {k}' for k in row)}",
            row,
        )
    con.execute(
        "insert into raw_case_outcomes (case_id, agency_id, opened_at, first_name, last_name,"
        " email, phone, zip, investigated, cybertip_ref) values "
        "('C1', 'A2', date '2024-03-20', 'Robert', 'OBrien Smith', 'foo.bar@mail.com',"
        " '555-123-4567', '02134-0001', true, ' TR1 '),"
        "('C2', 'A1', date '2024-04-01', null, null, null, null, null, false, '')"
    )
    build_staging(con)
    yield con
    con.close()


def _rows(con, table: str) -> list[tuple]:
    return con.sql(f"select {STAGED} from {table} order by unique_id").fetchall()


def test_referrals_standardised(con):
    assert _rows(con, "stg_referrals") == [
        (
            "R1",
            date(2024, 3, 1),
            None,
            "A1",
            "TR1",
            "robert",
            "obriensmith",
            "bobobriensmith",
            date(1990, 2, 3),
            "foo.bar@mail.com",
            "foobar",
            "5551234567",
            "user_1",
            "new york",
            "NY",
            "02134",
        ),
        (
            "R2",
            date(2024, 3, 1),
            None,
            "A1",
            "TR2",
            None,
            None,
            None,
            None,
            None,
            None,
            "5551234567",
            None,
            None,
            None,
            "78701",
        ),
        (
            "R3",
            date(2024, 3, 1),
            None,
            "A1",
            "TR3",
            "jose",
            None,
            None,
            None,
            None,
            None,
            "5551234567",
            None,
            None,
            None,
            None,
        ),
    ]


def test_cases_standardised(con):
    assert _rows(con, "stg_case_outcomes") == [
        (
            "C1",
            None,
            date(2024, 3, 20),
            "A2",
            "TR1",
            "robert",
            "obriensmith",
            "robertobriensmith",
            None,
            "foo.bar@mail.com",
            "foobar",
            "5551234567",
            None,
            None,
            None,
            "02134",
        ),
        (
            "C2",
            None,
            date(2024, 4, 1),
            "A1",
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        ),
    ]


def test_same_columns_one_row_per_input(con):
    describe = [con.sql(f"describe {t}").fetchall() for t in ("stg_referrals", "stg_case_outcomes")]
    assert describe[0] == describe[1]
    assert con.sql("select count(*) from stg_referrals").fetchall()[0][0] == 3
    assert con.sql("select count(*) from stg_case_outcomes").fetchall()[0][0] == 2


def test_nickname_lookup_has_one_row_per_nickname(con):
    dupes = con.sql(
        "select count(*) from (select nickname from stg_nicknames group by 1 having count(*) > 1)"
    ).fetchall()[0][0]
    assert dupes == 0
    assert con.sql("select count(*) from stg_nicknames").fetchall()[0][0] >= 150
    lookup = dict(con.sql("select nickname, canonical from stg_nicknames").fetchall())
    assert lookup["bob"] == "robert" and lookup["bill"] == "william"
