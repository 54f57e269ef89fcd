-- Review-corrected conversion rates (computed in linkage.review.estimates, read as the view
-- review_conversion_rates_input): per offense type (and ALL) and stage, the share of
-- eligible referrals that reached the stage = the linked rate plus the design-weighted
-- (Horvitz-Thompson) estimate of the reviewed error in it, with a 95% interval.
with rates as (
    select * from review_conversion_rates_input
),

final as (
    select * from rates
)

select * from final
order by offense_type = 'ALL' desc, offense_type, stage_order
