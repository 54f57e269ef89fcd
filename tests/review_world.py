"""A small linked study with known truth for the review tests, built in SQL (no Splink).

600 referrals in three offense types (400 / 150 / 50); referral i < 420 truly belongs to
case i mod 300 (so cases take one or two referrals), the others to none; 60 extra cases
belong to no referral. Scored pairs: most true pairs (one in 13 lost to "blocking"), a
decoy per referral, some decoys scored above the true pair (false links); links are the
best pair per referral at p >= 0.5. Stage dates vary with i so every stage has converters.
"""

from __future__ import annotations

import duckdb

from linkage.contract import PSEUDO_KEY_CHECK, PSEUDO_MARKER, PSEUDO_SCHEME
from linkage.ingest import build_staging

N_REFERRALS = 600
N_CASES = 360


def make_world(con: duckdb.DuckDBPyConnection, *, pseudonymised: bool = False
               ) -> duckdb.DuckDBPyConnection:
    con.execute(f"""
        create table raw_referrals as select
            'R' || lpad(i::varchar, 4, '0') as referral_id,
            'T' || i as tip_id,
            timestamp '2023-01-01 09:00:00' + to_days(cast(i % 500 as integer)) as referred_at,
            'A' || (i % 4) as agency_id,
            'CA' as agency_state,
            case when i % 12 = 0 then 'c' when i % 4 = 1 then 'b' else 'a' end
                as offense_type,
            1 as priority,
            case when i % 7 <> 0 then 'Name' || (i % 300) end as first_name,
            'Family' || (i % 300) as last_name,
            cast(date '1980-01-01' + to_days(cast(i % 300 as integer)) as date) as dob,
            case when i % 3 = 0 then 'user' || (i % 300) || '@example.org' end as email,
            null as phone, case when i % 5 = 0 then 'handle' || i end as username,
            null as ip, 'Fresno' as city, 'CA' as state, '93701' as zip
        from range({N_REFERRALS}) t(i);
        create table raw_case_outcomes as select
            'C' || lpad(j::varchar, 4, '0') as case_id,
            'A' || (j % 4) as agency_id,
            cast(date '2023-01-01' + to_days(cast(j % 500 + 10 as integer)) as date)
                as opened_at,
            'Name' || j as first_name, 'Family' || j as last_name,
            cast(date '1980-01-01' + to_days(cast(j as integer)) as date) as dob,
            'user' || j || '@example.org' as email, null as phone, null as username,
            'Fresno' as city, 'CA' as state, '93701' as zip, 'x' as offense_charged,
            j % 9 <> 4 as investigated,
            case when j % 3 = 0 then cast(date '2023-03-01' + to_days(cast(j % 500 as
                integer)) as date) end as arrested_at,
            case when j % 6 = 0 then cast(date '2023-03-05' + to_days(cast(j % 500 as
                integer)) as date) end as charged_at,
            case when j % 12 = 0 then cast(date '2023-06-01' + to_days(cast(j % 500 as
                integer)) as date) end as convicted_at,
            case when j % 10 = 0 then 'T' || j end as cybertip_ref
        from range({N_CASES}) t(j);
        create table truth_links as select
            'R' || lpad(i::varchar, 4, '0') as referral_id,
            'C' || lpad((i % 300)::varchar, 4, '0') as case_id
        from range(420) t(i);
        create table scored_pairs as
        with pairs as (
            select i, i % 300 as j, 0.35 + 0.64 * ((i * 37) % 100) / 100.0 as p
            from range(420) t(i) where i % 13 <> 0
            union all
            select i, (i * 7 + 11) % {N_CASES}, 0.02 + 0.9 * ((i * 53) % 100) / 100.0
            from range({N_REFERRALS}) t(i) where i % 3 <> 2
        )
        select 'R' || lpad(i::varchar, 4, '0') as referral_id,
            'C' || lpad(j::varchar, 4, '0') as case_id,
            max(p) as match_probability, 0.0 as match_weight,
            max(p) as identity_probability
        from pairs group by all;
        create table raw_tips as select distinct tip_id, 'esp' as reporter_type,
            'Reporter' as reporter_name, false as is_urgent
        from raw_referrals;
        create table links as
        select referral_id, arg_max(case_id, match_probability) as case_id,
            max(match_probability) as match_probability, 0.0 as match_weight
        from scored_pairs group by referral_id having max(match_probability) >= 0.5;
    """)
    if pseudonymised:
        _pseudonymise(con)
    build_staging(con, pseudonymised=pseudonymised)
    return con


def _pseudonymise(con: duckdb.DuckDBPyConnection) -> None:
    """Tokens in place of the identifiers, with the columns the pseudonymised staging reads
    (a stand-in for `linkage pseudonymize`'s output, enough for the review sheet)."""
    sources = {"full_name": "first_name || last_name", "initial_last_name": "last_name",
               "dob": "dob", "dob_swap": "dob", "dob_ym": "dob", "dob_yd": "dob",
               "dob_md": "dob", "email_name": "email", "phone_head": "phone",
               "phone_tail": "phone", "phone_masks": "phone", "username_name": "username"}
    tokens = ", ".join(f"md5(coalesce(cast({src} as varchar), '')) as pseudo_{name}"
                       for name, src in sources.items())
    blooms = ", ".join(f"'00ff' as pseudo_{c}_bloom" for c in
                       ("first_name", "last_name", "full_name", "email_name", "username_name"))
    for table in ("raw_referrals", "raw_case_outcomes"):
        con.execute(f"""
            create or replace table {table} as select
                * replace (
                    md5(coalesce(first_name, '')) as first_name,
                    md5(coalesce(last_name, '')) as last_name,
                    case when email is not null then md5(email) end as email,
                    case when username is not null then md5(username) end as username
                ),
                {tokens}, {blooms},
                '{PSEUDO_SCHEME}' as {PSEUDO_MARKER}, 'k1' as {PSEUDO_KEY_CHECK}
            from {table}
        """)
