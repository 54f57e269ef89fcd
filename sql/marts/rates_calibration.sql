-- The primary estimator's calibration, one row per match-probability bin: the labelled
-- audit pairs, the observed share of true pairs and the fitted (isotonic) calibrated
-- probability; and, binning cases by their best candidate's probability, the cases and
-- audit cases there and the fitted P(referral case) (cases from other sources have only
-- false candidates). Reads the frame rates_calibration_input.
with bins as (
    select * from rates_calibration_input
),

final as (
    select * from bins
    order by p_low
)

select * from final
