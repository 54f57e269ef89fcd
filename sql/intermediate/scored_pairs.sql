-- Candidate pairs with their final match probability = P(same person) from Splink x
-- P(this referral is the case's | same person, gap bucket, agency agreement), the latter
-- the posterior of the two-class mixture fitted into link_gap_model (links: fitted m;
-- other same-person pairs: random-pair u), then discounted for another agency's
-- referral where the case has one from its own agency (own_agency). With $temporal_on
-- false (the dates carry no signal) the temporal probability is 1: identity alone.
-- Reads the Splink identity scores from the view linkage_identity_pairs.
with pairs as (
    select * from linkage_identity_pairs
),

gap_model as (
    select
        bucket,
        gap_from,
        gap_to,
        same_agency,
        rho * m_gap * (case when same_agency then m_agency else 1 - m_agency end) as w_link,
        (1 - rho) * u_gap * (case when same_agency then u_agency else 1 - u_agency end)
            as w_other
    from link_gap_model
),

temporal as (
    select
        p.*,
        g.bucket as gap_bucket,
        case when $temporal_on then g.w_link / (g.w_link + g.w_other) end
            as temporal_probability
    from pairs as p
    left join gap_model as g
        on p.gap_days between g.gap_from and g.gap_to
            and p.same_agency = g.same_agency
),

paired as (
    select
        *,
        identity_probability * coalesce(temporal_probability, 1) as pair_probability
    from temporal
),

-- Explaining away across agencies: a referral from another agency than the case's is
-- discounted by the chance that the case already has its own agency's referral of the
-- person (an agency investigates its own referrals; $m_agency of links share the agency).
own_agency as (
    select
        *,
        coalesce(max(case when same_agency then pair_probability end)
            over (partition by case_id), 0) as p_own_agency
    from paired
),

scored as (
    select
        *,
        case
            when same_agency then pair_probability
            else pair_probability * (1 - $m_agency * p_own_agency)
        end as p_final
    from own_agency
),

final as (
    select
        referral_id,
        case_id,
        p_final as match_probability,
        log2(greatest(p_final, 1e-300) / greatest(1 - p_final, 1e-16)) as match_weight,
        pair_probability,
        identity_probability,
        identity_weight,
        temporal_probability,
        gap_days,
        gap_bucket,
        same_agency,
        match_key,
        * exclude (
            referral_id, case_id, p_final, pair_probability, p_own_agency,
            identity_probability, identity_weight,
            temporal_probability, gap_days, gap_bucket, same_agency, match_key
        )
    from scored
    where p_final >= $score_floor
    order by referral_id, match_probability desc, case_id
)

select * from final
