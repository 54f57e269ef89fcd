-- Contract table conversion_rates: per offense type (plus ALL) and stage, every method's
-- rate with its 95% CI, suppression applied. rate_kind: cumulative (share of referrals) or
-- conditional (share of the previous stage). Reads rate_cells.
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
        is_primary,
        rate_kind,
        numerator,
        denominator,
        suppressed,
        suppression,
        follow_up_days,
        censoring
    from estimates
    where dimension = 'offense_type'
    order by method, rate_kind, offense_type = 'ALL' desc, offense_type, stage
)

select * from final
