-- The threshold estimator's cells at each sensitivity threshold, suppression applied:
-- what conversion_rates_threshold publishes. Reads the frame rates_threshold_input.
with cells as (
    select * from rates_threshold_input
),

final as (
    select * from cells
)

select * from final
