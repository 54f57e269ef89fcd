-- The primary estimator's audit correction, per offense type and ALL: audit links (cases
-- that recorded the referral's tip number), how many of them blocking never proposed, the
-- recording rate (audit share of referral cases), repeat referrals per lead referral, and
-- the expected investigations the correction adds (negative: false links it removes).
-- Reads the frame rates_missed_links_input.
with audit as (
    select * from rates_missed_links_input
),

final as (
    select
        offense_type,
        audit_links,
        audit_links_not_candidates,
        recording_rate,
        sibling_ratio,
        investigations_added
    from audit
    order by offense_type = 'ALL' desc, offense_type
)

select * from final
