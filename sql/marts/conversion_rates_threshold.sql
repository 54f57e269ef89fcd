-- Threshold sensitivity of the rates: the `threshold` estimator (best link per referral
-- with match probability >= threshold) at several thresholds, per offense type and ALL,
-- with Wilson 95% CIs treating links as true; small cells suppressed. Reads
-- threshold_cells (built by the estimation stage after conversion_rates).
with estimates as (
    select * from threshold_cells
),

final as (
    select
        threshold,
        stratum as offense_type,
        stage,
        rate_kind,
        n_referrals,
        estimate,
        ci_low,
        ci_high,
        numerator,
        denominator,
        suppressed,
        suppression
    from estimates
    where dimension = 'offense_type'
    order by threshold, rate_kind, offense_type = 'ALL' desc, offense_type, stage
)

select * from final
