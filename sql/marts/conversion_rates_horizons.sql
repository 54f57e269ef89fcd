-- Time to event: the primary's cumulative rate per offense type (and ALL), stage and
-- horizon (days from referral), a weighted Kaplan-Meier estimate over every referral
-- censored at the study end (linkage.estimation.survival); suppressed cells have a null
-- estimate, with its interval for these referrals (ci_*, bootstrap draws of the primary)
-- and for the process (process_ci_*, adds referral sampling over the referrals followed at
-- least horizon_days: n_followed). Reads the frame rates_horizons_input.
with horizons as (
    select * from rates_horizons_input
),

final as (
    select
        offense_type,
        stage,
        horizon_days,
        n_referrals,
        n_followed,
        estimate,
        ci_low,
        ci_high,
        process_ci_low,
        process_ci_high,
        interval,
        is_longest,
        suppressed,
        method
    from horizons
    order by
        offense_type = 'ALL' desc, offense_type, horizon_days,
        list_position(['investigation', 'arrest', 'charge', 'conviction'], stage)
)

select * from final
