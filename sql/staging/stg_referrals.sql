-- Referrals standardised for linkage: one row per raw_referrals row, with the same column
-- set as stg_case_outcomes (Splink needs identical columns; the side-specific ones are null
-- on the other side). Cleaning rules: stg_macros.sql. The only join is the nickname lookup.
with source as (
    select * from raw_referrals
),

cleaned as (
    select
        referral_id as unique_id,
        'referral' as record_type,
        cast(referred_at as date) as referral_date,
        cast(null as date) as case_opened_date,
        agency_id,
        tip_id as tip_ref,
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
