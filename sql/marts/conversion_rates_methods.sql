-- One row per estimator: whether it is the primary one, what it does and the censoring
-- rule. Reads the frame rates_methods_input.
with methods as (
    select * from rates_methods_input
),

final as (
    select method, is_primary, description, censoring from methods
)

select * from final
