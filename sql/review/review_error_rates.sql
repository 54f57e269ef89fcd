-- Design-weighted linkage error rates from the review (computed in
-- linkage.review.estimates, read as the view review_error_rates_input): per offense type
-- and ALL, the false-link rate (share of links whose case is not the referral's) and the
-- missed-link rate (share of referrals with a case whose case is not linked to them), each
-- with its 95% interval and the counts behind it.
with rates as (
    select * from review_error_rates_input
),

final as (
    select * from rates
)

select * from final
order by offense_type = 'ALL' desc, offense_type, rate
