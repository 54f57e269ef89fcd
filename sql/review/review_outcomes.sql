-- One row per referral of the frame: its stratum, whether it is old enough for the
-- censoring rule ($follow_up_days before $end_date, the estimators' rule), the stages its
-- link reached and, for a sampled referral, the reviewer's verdict: resolved (a case marked
-- match, or every row no_match), the true case and the stages that case reached. A stage
-- counts when an investigated case reached it within $follow_up_days of the referral.
with frame as (
    select f.*, cast(r.referred_at as date) as referred_date
    from review_frame as f
    inner join raw_referrals as r on r.referral_id = f.referral_id
),

cases as (
    select case_id, investigated, opened_at, arrested_at, charged_at, convicted_at
    from raw_case_outcomes
),

verdicts as (
    select
        review_id,
        referral_id,
        min(case when decision = 'match' then case_id end) as true_case_id,
        bool_or(decision = 'match') as has_match,
        bool_or(decision = 'unsure') as has_unsure
    from review_labels
    group by review_id, referral_id
),

joined as (
    select
        f.referral_id,
        f.offense_type,
        f.band,
        f.referred_date,
        f.linked_case_id,
        v.review_id is not null as sampled,
        coalesce(v.has_match or not v.has_unsure, false) as resolved,
        v.true_case_id,
        lc.investigated as l_inv,
        lc.opened_at as l_open,
        lc.arrested_at as l_arrest,
        lc.charged_at as l_charge,
        lc.convicted_at as l_convict,
        tc.investigated as t_inv,
        tc.opened_at as t_open,
        tc.arrested_at as t_arrest,
        tc.charged_at as t_charge,
        tc.convicted_at as t_convict
    from frame as f
    left join verdicts as v on v.referral_id = f.referral_id
    left join cases as lc on lc.case_id = f.linked_case_id
    left join cases as tc on tc.case_id = v.true_case_id
),

final as (
    select
        referral_id,
        offense_type,
        band,
        sampled,
        resolved,
        referred_date + cast($follow_up_days as integer) <= cast($end_date as date) as eligible,
        linked_case_id is not null as is_linked,
        true_case_id is not null as has_true_case,
        coalesce(linked_case_id = true_case_id, false) as link_correct,
        coalesce(l_inv and l_open <= referred_date + $follow_up_days, false)
            as link_investigation,
        coalesce(l_inv and l_arrest <= referred_date + $follow_up_days, false) as link_arrest,
        coalesce(l_inv and l_charge <= referred_date + $follow_up_days, false) as link_charge,
        coalesce(l_inv and l_convict <= referred_date + $follow_up_days, false)
            as link_conviction,
        coalesce(t_inv and t_open <= referred_date + $follow_up_days, false)
            as true_investigation,
        coalesce(t_inv and t_arrest <= referred_date + $follow_up_days, false) as true_arrest,
        coalesce(t_inv and t_charge <= referred_date + $follow_up_days, false) as true_charge,
        coalesce(t_inv and t_convict <= referred_date + $follow_up_days, false)
            as true_conviction
    from joined
)

select * from final
order by referral_id
