"""Tiny literal tables that pass every data-quality suite, and helpers to name expectations.

Shared by the data-quality tests (imported as a plain module: pytest puts ``tests/`` on the
path). Every value here is invented.
"""

from __future__ import annotations

import json
from typing import Any

from linkage.resources import expectations_dir

# A distinctive record value planted in bad rows: it must never reach any output.
SECRET = "ZQX-SECRET-4711"

CLEAN_SQL = """
create table raw_tips as select * from (values
    ('T1', timestamp '2024-01-01 10:00', 'esp', 'MailCo', 'apparent_csam', false, 2),
    ('T2', timestamp '2024-01-02 11:30', 'public', null, 'enticement', true, null),
    ('T3', timestamp '2024-01-03 09:00', 'esp', 'MailCo', 'apparent_csam', false, 0)
) t(tip_id, received_at, reporter_type, reporter_name, incident_type, is_urgent, file_count);
alter table raw_tips alter file_count type bigint;
alter table raw_tips add column suspect_email varchar;
alter table raw_tips add column suspect_username varchar;
alter table raw_tips add column suspect_phone varchar;
alter table raw_tips add column suspect_ip varchar;
alter table raw_tips add column suspect_first_name varchar;
alter table raw_tips add column suspect_last_name varchar;
alter table raw_tips add column suspect_dob date;
alter table raw_tips add column country varchar default 'US';
alter table raw_tips add column state varchar default 'CA';

create table raw_referrals (
    referral_id varchar, tip_id varchar, referred_at timestamp, agency_id varchar,
    agency_state varchar, offense_type varchar, priority bigint, first_name varchar,
    last_name varchar, dob date, email varchar, phone varchar, username varchar, ip varchar,
    city varchar, state varchar, zip varchar, note varchar);
insert into raw_referrals (referral_id, tip_id, referred_at, agency_id, offense_type, dob) values
    ('R1', 'T1', '2024-01-05 08:00', 'ICAC-CA', 'possession', '1990-05-01'),
    ('R2', 'T1', '2024-01-06 08:00', 'ICAC-CA', 'possession', null),
    ('R3', 'T3', '2024-01-04 08:00', 'ICAC-TX', 'enticement', null);

create table raw_case_outcomes (
    case_id varchar, agency_id varchar, opened_at date, first_name varchar, last_name varchar,
    dob date, email varchar, phone varchar, username varchar, city varchar, state varchar,
    zip varchar, offense_charged varchar, investigated boolean, arrested_at date,
    charged_at date, convicted_at date, cybertip_ref varchar);
insert into raw_case_outcomes (case_id, agency_id, opened_at, dob, investigated, arrested_at,
                               charged_at, convicted_at, cybertip_ref) values
    ('C1', 'ICAC-CA', '2024-02-01', '1990-05-01', true, '2024-03-01', '2024-03-05',
     '2024-09-01', 'T1'),
    ('C2', 'ICAC-TX', '2024-02-10', '1985-07-04', true, null, null, null, null);

create table stg_referrals as select
    referral_id as unique_id, 'referral' as record_type, cast(referred_at as date) as referral_date,
    cast(null as date) as case_opened_date, agency_id, tip_id as tip_ref,
    'al' as first_name, 'smith' as last_name, dob, 'al@example.org' as email,
    '5551234567' as phone, null::varchar as username, 'fresno' as city, 'CA' as state,
    '93701' as zip
from raw_referrals;
create table stg_case_outcomes as select
    case_id as unique_id, 'case' as record_type, cast(null as date) as referral_date,
    opened_at as case_opened_date, agency_id, cybertip_ref as tip_ref,
    'al' as first_name, 'smith' as last_name, dob, null::varchar as email,
    '5551234567' as phone, null::varchar as username, 'fresno' as city, 'CA' as state,
    '93701' as zip
from raw_case_outcomes;
create table quarantine_case_outcomes as
select *, null::varchar as reason from raw_case_outcomes limit 0;

create table links as select * from (values
    ('R1', 'C1', 0.97, 8.1), ('R3', 'C2', 0.55, 0.3)
) t(referral_id, case_id, match_probability, match_weight);
alter table links alter match_probability type double;
alter table links alter match_weight type double;

create table conversion_rates as
with stages(stage, k) as (
    values ('investigation', 1), ('arrest', 2), ('charge', 3), ('conviction', 4)),
methods(method, is_primary) as (values ('threshold', true), ('deterministic', false)),
cumulative as (
    select o.offense_type, s.stage, 100 as n_referrals, 0.5 / s.k as estimate,
           0.5 / s.k - 0.05 as ci_low, 0.5 / s.k + 0.05 as ci_high, m.method, m.is_primary,
           'cumulative' as rate_kind, false as suppressed
    from stages s, methods m, (values ('possession'), ('enticement'), ('ALL')) o(offense_type)
),
-- conditional rates need not fall along the funnel: P(charge | arrest) > P(arrest | investigation)
conditional as (
    select c.offense_type, c.stage, c.n_referrals, v.p as estimate, v.p - 0.05 as ci_low,
           v.p + 0.05 as ci_high, c.method, c.is_primary, 'conditional' as rate_kind,
           false as suppressed
    from cumulative c
    join (values ('arrest', 0.2), ('charge', 0.9), ('conviction', 0.8)) v(stage, p) using (stage)
)
select * from cumulative union all by name select * from conditional;
"""

SHORT = {
    "expect_table_columns_to_match_set": "columns",
    "expect_column_values_to_be_in_type_list": "type",
    "expect_table_row_count_to_be_between": "rows",
    "expect_table_row_count_to_equal_other_table": "rows-equal",
    "expect_column_values_to_not_be_null": "not-null",
    "expect_column_values_to_be_unique": "unique",
    "expect_compound_columns_to_be_unique": "unique",
    "expect_column_values_to_be_between": "between",
    "expect_column_values_to_be_in_set": "in-set",
    "expect_column_values_to_full_match_regex": "regex",
    "expect_column_pair_values_a_to_be_greater_than_b": "pair",
    "unexpected_rows_expectation": "sql",
}


def suite_expectations(suite: str) -> list[dict[str, Any]]:
    """The expectations of a shipped suite file, as written."""
    path = expectations_dir() / f"{suite}.json"
    return json.loads(path.read_text(encoding="utf-8"))["expectations"]


def label(expectation: dict[str, Any]) -> str:
    """A short readable name for an expectation of a suite file, unique within the suite:
    ``not-null tip_id``, ``pair arrested_at,opened_at``, ``sql <description>``, ``rows``."""
    short, kw = SHORT[expectation["type"]], expectation["kwargs"]
    if short == "sql":
        return f"sql {expectation['description']}"
    column = kw.get("column")
    if "column_A" in kw:
        column = f"{kw['column_A']},{kw['column_B']}"
    if "column_list" in kw:
        column = ",".join(kw["column_list"])
    return f"{short} {column}" if column else short


def labels(suite: str) -> list[str]:
    """Labels of a suite's expectations, in file order."""
    return [label(e) for e in suite_expectations(suite)]
