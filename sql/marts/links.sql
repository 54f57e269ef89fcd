-- Contract table links: for each referral its best-scoring case, if that case's match
-- probability reaches $threshold. At most one link per referral; a case may take several
-- (one suspect in several referrals). Ties break on case_id so runs are reproducible.
with candidates as (
    select referral_id, case_id, match_probability, match_weight
    from scored_pairs
    where match_probability >= $threshold
),

ranked as (
    select
        *,
        row_number() over (
            partition by referral_id
            order by match_probability desc, match_weight desc, case_id
        ) as rank_in_referral
    from candidates
),

final as (
    select referral_id, case_id, match_probability, match_weight
    from ranked
    where rank_in_referral = 1
)

select * from final
