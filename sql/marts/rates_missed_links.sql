-- The primary estimator's missed-link model: logistic coefficients of P(a true pair is
-- not among the candidates | the referral's identifier pattern), fitted on audit pairs.
-- Reads the frame rates_missed_links_input.
with terms as (
    select * from rates_missed_links_input
),

final as (
    select term, coefficient from terms
)

select * from final
