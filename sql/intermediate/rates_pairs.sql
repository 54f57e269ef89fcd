-- Every referral-case pair an estimator can use: the scored candidate pairs, the links and
-- the cybertip_ref (audit) pairs, with each stage reached by the case within
-- $follow_up_days days of the referral (the censoring rule; investigation = an
-- investigated case opened by then). An audit pair is a case recording a tip number and
-- the referral of that tip: the same agency first, then the earliest referral. An audit
-- sibling is another candidate of an audit case that is likely the same person
-- (identity_probability >= $same_person_floor) referred to the audit referral's agency: it
-- belongs to the case exactly when it was investigated too (one case per person and
-- agency), which the audit cannot tell. Likewise a sibling is any scored candidate that is
-- likely the same person as, and referred to the agency of, its case's best candidate.
-- days_to_<stage>: days from the referral to the case's observed stage date, not windowed
-- (the time-to-event step censors them at the referral's follow-up).
with referrals as (
    select ref_idx, referral_id, tip_id, agency_id, referred_date from rates_referrals
),

cases as (
    select
        case_id,
        agency_id,
        investigated,
        opened_at,
        arrested_at,
        charged_at,
        convicted_at,
        nullif(trim(cybertip_ref), '') as cybertip_ref
    from raw_case_outcomes
),

audit_candidates as (
    select
        c.case_id,
        r.referral_id,
        row_number() over (
            partition by c.case_id
            order by (r.agency_id = c.agency_id) desc, r.referred_date, r.referral_id
        ) as rank_in_case
    from cases as c
    inner join referrals as r on r.tip_id = c.cybertip_ref
),

audit_ranked as (
    select
        case_id,
        referral_id,
        row_number() over (partition by referral_id order by case_id) as rank_in_referral
    from audit_candidates
    where rank_in_case = 1
),

audit as (
    select case_id, referral_id from audit_ranked
    where rank_in_referral = 1
),

best as (
    select
        case_id,
        referral_id,
        row_number() over (
            partition by case_id order by match_probability desc, referral_id
        ) as rank_in_case
    from scored_pairs
),

pairs as (
    select referral_id, case_id from scored_pairs
    union
    select referral_id, case_id from links
    union
    select referral_id, case_id from audit
),

final as (
    select
        r.ref_idx,
        cast(dense_rank() over (order by p.case_id) - 1 as bigint) as case_idx,
        p.referral_id,
        p.case_id,
        s.match_probability,
        s.match_weight,
        s.identity_probability,
        s.referral_id is not null as is_scored,
        l.referral_id is not null as is_link,
        a.referral_id is not null as is_audit_pair,
        c.cybertip_ref is not null as is_audit_case,
        c.agency_id as case_agency_id,
        coalesce(
            a.referral_id is null
            and s.identity_probability >= $same_person_floor
            and r.agency_id = ar.agency_id,
            false
        ) as is_audit_sibling,
        coalesce(
            b.referral_id <> p.referral_id
            and s.identity_probability >= $same_person_floor
            and r.agency_id = br.agency_id,
            false
        ) as is_sibling,
        coalesce(c.investigated and c.opened_at <= r.referred_date + $follow_up_days, false)
            as reached_investigation,
        coalesce(c.investigated and c.arrested_at <= r.referred_date + $follow_up_days, false)
            as reached_arrest,
        coalesce(c.investigated and c.charged_at <= r.referred_date + $follow_up_days, false)
            as reached_charge,
        coalesce(c.investigated and c.convicted_at <= r.referred_date + $follow_up_days, false)
            as reached_conviction,
        case when c.investigated then date_diff('day', r.referred_date, c.opened_at) end
            as days_to_investigation,
        case when c.investigated then date_diff('day', r.referred_date, c.arrested_at) end
            as days_to_arrest,
        case when c.investigated then date_diff('day', r.referred_date, c.charged_at) end
            as days_to_charge,
        case when c.investigated then date_diff('day', r.referred_date, c.convicted_at) end
            as days_to_conviction
    from pairs as p
    inner join referrals as r on r.referral_id = p.referral_id
    inner join cases as c on c.case_id = p.case_id
    left join scored_pairs as s on s.referral_id = p.referral_id and s.case_id = p.case_id
    left join links as l on l.referral_id = p.referral_id and l.case_id = p.case_id
    left join audit as a on a.referral_id = p.referral_id and a.case_id = p.case_id
    left join audit as ac on ac.case_id = p.case_id
    left join referrals as ar on ar.referral_id = ac.referral_id
    left join best as b on b.case_id = p.case_id and b.rank_in_case = 1
    left join referrals as br on br.referral_id = b.referral_id
    order by r.ref_idx, p.case_id
)

select * from final
