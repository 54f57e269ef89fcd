-- Synthetic data only: the true stages of every referral under the same censoring rule as
-- the estimators (reached within $follow_up_days days of the referral, referral old
-- enough), from truth_referrals' uncensored true dates. Used by linkage.simulate to score
-- the estimators; no estimator reads it.
with truth as (
    select * from truth_referrals
),

final as (
    select
        r.ref_idx,
        r.eligible,
        coalesce(t.investigated and t.opened_at <= r.referred_date + $follow_up_days, false)
            as reached_investigation,
        coalesce(t.investigated and t.arrested_at <= r.referred_date + $follow_up_days, false)
            as reached_arrest,
        coalesce(t.investigated and t.charged_at <= r.referred_date + $follow_up_days, false)
            as reached_charge,
        coalesce(t.investigated and t.convicted_at <= r.referred_date + $follow_up_days, false)
            as reached_conviction
    from rates_referrals as r
    left join truth as t on t.referral_id = r.referral_id
    order by r.ref_idx
)

select * from final
