-- Contract table conversion_rates: per offense type (plus ALL) and stage, every method's
-- rate with its 95% CI, suppression applied. rate_kind: cumulative (share of referrals) or
-- conditional (share of the previous stage). ci_low / ci_high are what `interval` says
-- (for these referrals, or for the process when links are taken as true); process_ci_*
-- add referral sampling (linkage.estimation.process). The calibrated rows also carry the assumption
-- the point estimate rests on, the estimates at the ends of its range, the sensitivity
-- bounds and the tipping point (null on other methods). Reads rate_cells.
with estimates as (
    select * from rate_cells
),

final as (
    select
        stratum as offense_type,
        stage,
        n_referrals,
        estimate,
        ci_low,
        ci_high,
        method,
        interval,
        process_ci_low,
        process_ci_high,
        is_primary,
        assumption,
        estimate_at_low,
        estimate_at_high,
        bound_low,
        bound_high,
        tipping_point,
        rate_kind,
        numerator,
        denominator,
        suppressed,
        suppression,
        follow_up_days,
        horizon_days,
        censoring
    from estimates
    where dimension = 'offense_type'
    order by method, rate_kind, offense_type = 'ALL' desc, offense_type, stage
)

select * from final
