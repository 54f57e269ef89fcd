-- One row per referral: the strata of every conversion rate and whether the referral is
-- old enough for the censoring rule (followed up at least $follow_up_days days before the
-- study's $end_date); follow_up_available: days from referral to $end_date (the
-- time-to-event step's censoring time). ref_idx numbers referrals 0..n-1 for the
-- estimators' arrays.
with referrals as (
    select * from raw_referrals
),

tips as (
    select tip_id, reporter_type, reporter_name, is_urgent from raw_tips
),

flags as (
    select
        r.referral_id,
        r.tip_id,
        r.agency_id,
        cast(r.referred_at as date) as referred_date,
        coalesce(r.offense_type, '(missing)') as offense_type,
        coalesce(t.reporter_type, '(missing)') as reporter_type,
        coalesce(t.reporter_name, '(none)') as reporter_name,
        coalesce(t.is_urgent, false) as is_urgent,
        (
            nullif(trim(r.first_name), '') is not null
            and nullif(trim(r.last_name), '') is not null
        ) as has_name,
        r.dob is not null as has_dob,
        nullif(trim(r.email), '') is not null as has_email,
        nullif(trim(r.phone), '') is not null as has_phone,
        nullif(trim(r.username), '') is not null as has_username,
        nullif(trim(r.ip), '') is not null as has_ip
    from referrals as r
    left join tips as t on t.tip_id = r.tip_id
),

final as (
    select
        cast(row_number() over (order by referral_id) - 1 as bigint) as ref_idx,
        *,
        referred_date + cast($follow_up_days as integer) <= cast($end_date as date) as eligible,
        date_diff('day', referred_date, cast($end_date as date)) as follow_up_available,
        case when is_urgent then 'urgent' else 'not urgent' end as urgency,
        cast(
            has_name::int + has_dob::int + has_email::int + has_phone::int
            + has_username::int + has_ip::int as varchar
        ) || ' of 6 identifiers' as completeness
    from flags
)

select * from final
