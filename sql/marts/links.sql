-- Contract table links: for each referral its best-scoring case, if that case's match
-- probability reaches $threshold. At most one link per referral. An investigation may take
-- several referrals (one suspect in several referrals to the agency); a record with
-- investigated = false logs one declined referral, so it takes at most one: the
-- best-scoring referral keeps it and the others fall back to their best investigation.
-- Ties break on case_id / referral_id so runs are reproducible.
with candidates as (
    select
        s.referral_id,
        s.case_id,
        s.match_probability,
        s.match_weight,
        coalesce(c.investigated, true) as investigated
    from scored_pairs as s
    inner join raw_case_outcomes as c on c.case_id = s.case_id
    where s.match_probability >= $threshold
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

first_pick as (
    select
        *,
        row_number() over (
            partition by case_id
            order by match_probability desc, match_weight desc, referral_id
        ) as rank_in_case
    from ranked
    where rank_in_referral = 1
),

kept as (
    select referral_id, case_id, match_probability, match_weight
    from first_pick
    where investigated or rank_in_case = 1
),

fallback as (
    select
        c.referral_id,
        c.case_id,
        c.match_probability,
        c.match_weight,
        row_number() over (
            partition by c.referral_id
            order by c.match_probability desc, c.match_weight desc, c.case_id
        ) as rank_in_referral
    from candidates as c
    inner join first_pick as f on f.referral_id = c.referral_id
    where not f.investigated and f.rank_in_case > 1 and c.investigated
),

final as (
    select * from kept
    union all
    select referral_id, case_id, match_probability, match_weight
    from fallback
    where rank_in_referral = 1
)

select * from final
order by referral_id
