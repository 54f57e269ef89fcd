-- The estimators' output, one row per method x dimension x stratum x stage x rate kind
-- (offense types and the other strata together), suppression applied: what
-- conversion_rates and conversion_rates_strata publish. Reads the frame
-- rates_estimates_input (the numpy estimators' cells).
with cells as (
    select * from rates_estimates_input
),

final as (
    select * from cells
)

select * from final
