-- Synthetic data only: the realised true rates per offense type and ALL under the
-- estimators' censoring (rates_truth over the eligible referrals), cumulative (share of
-- referrals) and conditional (share of the previous stage; null when it is empty). Not
-- suppressed: the methodology simulation scores against it; the report reads
-- conversion_rates_truth. No estimator reads it.
with counts as (
    select
        coalesce(r.offense_type, 'ALL') as offense_type,
        count(*) as n,
        sum(t.reached_investigation::int) as investigation,
        sum(t.reached_arrest::int) as arrest,
        sum(t.reached_charge::int) as charge,
        sum(t.reached_conviction::int) as conviction
    from rates_truth as t
    inner join rates_referrals as r using (ref_idx)
    where t.eligible
    group by rollup (r.offense_type)
),

stages as (
    select
        offense_type,
        n,
        stage,
        list_position(['investigation', 'arrest', 'charge', 'conviction'], stage) as k,
        reached
    from counts
    unpivot (reached for stage in (investigation, arrest, charge, conviction))
),

final as (
    select
        s.offense_type,
        s.stage,
        'cumulative' as rate_kind,
        s.reached / s.n as truth
    from stages as s
    union all
    select
        s.offense_type,
        s.stage,
        'conditional' as rate_kind,
        s.reached / nullif(p.reached, 0) as truth
    from stages as s
    inner join stages as p on p.offense_type = s.offense_type and p.k = s.k - 1
)

select * from final
order by rate_kind, offense_type = 'ALL' desc, offense_type, stage
