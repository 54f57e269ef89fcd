-- Tip-level funnel, overall and by incident type: tips received -> located in the US ->
-- referred to law enforcement (at least one referral). Counts only; shares are of the
-- previous step and of all tips.
with tips as (
    select
        t.tip_id,
        coalesce(t.incident_type, '(missing)') as incident_type,
        t.country = 'US' as us_located,
        exists(
            select 1 from raw_referrals as r
            where r.tip_id = t.tip_id
        ) as referred
    from raw_tips as t
),

strata as (
    select 'ALL' as stratum, * exclude (incident_type) from tips
    union all
    select incident_type as stratum, * exclude (incident_type) from tips
),

counts as (
    select
        stratum,
        count(*) as n_tips,
        count(*) filter (where us_located) as n_us_located,
        count(*) filter (where referred) as n_referred
    from strata
    group by stratum
),

steps as (
    select
        stratum, 1 as step_order, 'tips' as step, n_tips as n, n_tips as n_previous,
        n_tips as n_first
    from counts
    union all
    select stratum, 2, 'us_located', n_us_located, n_tips, n_tips from counts
    union all
    select stratum, 3, 'referred', n_referred, n_us_located, n_tips from counts
),

final as (
    select
        'incident_type' as dimension,
        stratum,
        step_order,
        step,
        n,
        n / nullif(n_previous, 0) as share_of_previous,
        n / nullif(n_first, 0) as share_of_tips
    from steps
    order by stratum = 'ALL' desc, stratum, step_order
)

select * from final
