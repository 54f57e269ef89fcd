-- The primary estimator's missed-link correction, per offense type and ALL: audit links
-- (cases that recorded the referral's tip number), how much of them the model is expected
-- to miss (sum of 1 - calibrated probability), the audit share of all true links, and the
-- missed links the correction adds (each audit miss scaled by 1 / audit share - 1).
-- Reads the frame rates_missed_links_input.
with audit as (
    select * from rates_missed_links_input
),

final as (
    select
        offense_type,
        audit_links,
        audit_links_missed_expected,
        audit_share,
        missed_links_added
    from audit
    order by offense_type = 'ALL' desc, offense_type
)

select * from final
