-- The suspect identifiers of each tip in the shape of raw_referrals, so the linkage staging
-- (sql/staging/stg_referrals.sql) standardises them by the same rules before they are
-- tokenised: a tip's e-mail token then equals the token of the same e-mail on a referral.
-- Only the columns the staging reads; the tip keeps everything else in pseudo_tips.
with tips as (
    select * from raw_tips
),

final as (
    select
        tip_id as referral_id,
        tip_id,
        received_at as referred_at,
        cast(null as varchar) as agency_id,
        suspect_first_name as first_name,
        suspect_last_name as last_name,
        suspect_dob as dob,
        suspect_email as email,
        suspect_phone as phone,
        suspect_username as username,
        cast(null as varchar) as city,
        cast(null as varchar) as state,
        cast(null as varchar) as zip
    from tips
)

select * from final
