-- Case outcomes standardised for linkage: one row per raw_case_outcomes row that is not
-- quarantined (quarantine_case_outcomes; `$apply_quarantine` false keeps every row, for
-- `linkage pseudonymize`), with the same column set as stg_referrals. Cleaning rules:
-- stg_macros.sql. The only joins are the nickname and quarantine lookups.
with source as (
    select s.*
    from raw_case_outcomes as s
    left join quarantine_case_outcomes as q on q.case_id = s.case_id
    where q.case_id is null or not $apply_quarantine
),

cleaned as (
    select
        case_id as unique_id,
        'case' as record_type,
        cast(null as date) as referral_date,
        cast(opened_at as date) as case_opened_date,
        agency_id,
        nullif(trim(cybertip_ref), '') as tip_ref,
        stg_name(first_name) as written_first_name,
        stg_identity(first_name, last_name, dob, email, phone, username, city, state, zip)
            as identity
    from source
),

final as (
    select
        c.* exclude (written_first_name, identity),
        coalesce(n.canonical, c.written_first_name) as first_name,
        unnest(c.identity)
    from cleaned as c
    left join stg_nicknames as n on n.nickname = c.written_first_name
)

select * from final
