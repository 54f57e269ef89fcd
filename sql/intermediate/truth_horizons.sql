-- Synthetic data only: the realised true cumulative rates per offense type (and ALL), stage
-- and horizon of conversion_rates_horizons, over every referral up to the study end (the
-- referrals the time-to-event step uses), from truth_referrals' uncensored true dates.
-- No estimator reads it.
with horizons as (
    select distinct cast(horizon_days as integer) as horizon_days
    from conversion_rates_horizons
),

referrals as (
    select ref_idx, referral_id, offense_type, referred_date from rates_referrals
    where follow_up_available >= 0
),

reached as (
    select
        r.offense_type,
        h.horizon_days,
        coalesce(t.investigated and t.opened_at <= r.referred_date + h.horizon_days, false)
            as investigation,
        coalesce(t.investigated and t.arrested_at <= r.referred_date + h.horizon_days, false)
            as arrest,
        coalesce(t.investigated and t.charged_at <= r.referred_date + h.horizon_days, false)
            as charge,
        coalesce(t.investigated and t.convicted_at <= r.referred_date + h.horizon_days, false)
            as conviction
    from referrals as r
    cross join horizons as h
    left join truth_referrals as t on t.referral_id = r.referral_id
),

counts as (
    select
        coalesce(offense_type, 'ALL') as offense_type,
        horizon_days,
        avg(investigation::int) as investigation,
        avg(arrest::int) as arrest,
        avg(charge::int) as charge,
        avg(conviction::int) as conviction
    from reached
    group by grouping sets ((offense_type, horizon_days), (horizon_days))
),

final as (
    select offense_type, horizon_days, stage, truth
    from counts
    unpivot (truth for stage in (investigation, arrest, charge, conviction))
)

select * from final
order by offense_type = 'ALL' desc, offense_type, horizon_days, stage
