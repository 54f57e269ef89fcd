-- Deterministic baselines beside the probabilistic links, one row per (method, referral):
--   cybertip_ref   - the case recorded the referral's tip number (tip_ref on both sides)
--   exact_email    - same standardised email
--   exact_phone    - same standardised phone (digits, no country code)
--   exact_name_dob - same standardised first name (nickname-resolved), last name and dob
-- Like links, a referral takes at most one case: the same agency first, then the case
-- opened soonest on or after the referral, then the lowest case_id.
with referrals as (
    select
        unique_id as referral_id, referral_date, agency_id, tip_ref, email, phone,
        first_name, last_name, dob
    from stg_referrals
),

cases as (
    select
        unique_id as case_id, case_opened_date, agency_id, tip_ref, email, phone,
        first_name, last_name, dob
    from stg_case_outcomes
),

candidates as (
    select
        'cybertip_ref' as method, r.*, c.case_id, c.case_opened_date,
        c.agency_id as case_agency_id
    from referrals as r inner join cases as c on c.tip_ref = r.tip_ref
    union all
    select 'exact_email', r.*, c.case_id, c.case_opened_date, c.agency_id
    from referrals as r inner join cases as c on c.email = r.email
    union all
    select 'exact_phone', r.*, c.case_id, c.case_opened_date, c.agency_id
    from referrals as r inner join cases as c on c.phone = r.phone
    union all
    select 'exact_name_dob', r.*, c.case_id, c.case_opened_date, c.agency_id
    from referrals as r inner join cases as c
        on c.first_name = r.first_name and c.last_name = r.last_name and c.dob = r.dob
),

ranked as (
    select
        method,
        referral_id,
        case_id,
        row_number() over (
            partition by method, referral_id
            order by
                (case_agency_id = agency_id) desc,
                (case_opened_date >= referral_date) desc,
                abs(date_diff('day', referral_date, case_opened_date)),
                case_id
        ) as rank_in_referral
    from candidates
),

final as (
    select method, referral_id, case_id
    from ranked
    where rank_in_referral = 1
)

-- Ordered, so that the stored table is the same for the same inputs at any thread count.
select * from final
order by method, referral_id
