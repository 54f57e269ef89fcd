-- Rates by the other strata (reporter type and name, identifier completeness, urgency):
-- same columns as conversion_rates with dimension and stratum instead of offense_type.
-- Reads rate_cells.
with estimates as (
    select * from rate_cells
),

final as (
    select
        dimension,
        stratum,
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
    where dimension <> 'offense_type'
    order by dimension, method, rate_kind, stratum = 'ALL' desc, stratum, stage
)

select * from final
