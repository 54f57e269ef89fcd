-- What the reviewer reads: one row per sampled referral and candidate case (its
-- $max_candidates best-scoring candidates), plus one row with a blank case_id per sampled
-- referral with no candidate, each with both records' standardised identifiers side by
-- side. match_probability and is_link stay in the database: the file is blind to them.
-- Pseudonymised staging holds a date-of-birth token instead of the date; to_json reads it
-- when present (null for clear input).
with sample as (
    select * from review_sample
),

candidates as (
    select
        referral_id,
        case_id,
        match_probability,
        row_number() over (
            partition by referral_id order by match_probability desc, case_id
        ) as rank_in_referral
    from scored_pairs
    where referral_id in (select referral_id from sample)
),

rows as (
    select
        s.review_id, s.referral_id, c.case_id, c.match_probability,
        coalesce(c.case_id = s.linked_case_id, false) as is_link,
        s.inclusion_probability
    from sample as s
    inner join candidates as c on c.referral_id = s.referral_id
    where c.rank_in_referral <= $max_candidates
    union all
    select s.review_id, s.referral_id, null, null, false, s.inclusion_probability
    from sample as s
    where s.n_candidates = 0
),

staged as (
    select
        unique_id,
        record_type,
        agency_id,
        coalesce(referral_date, case_opened_date) as record_date,
        first_name,
        last_name,
        coalesce(cast(dob as varchar), json_extract_string(to_json(s), '$.dob_token')) as dob,
        email,
        phone,
        username,
        city,
        state,
        zip
    from (
        select * from stg_referrals
        where unique_id in (select referral_id from sample)
        union all by name
        select * from stg_case_outcomes
        where unique_id in (select case_id from rows)
    ) as s
),

final as (
    select
        r.review_id,
        r.referral_id,
        r.case_id,
        r.inclusion_probability,
        r.match_probability,
        r.is_link,
        a.agency_id as referral_agency_id,
        b.agency_id as case_agency_id,
        a.record_date as referral_date,
        b.record_date as case_opened_date,
        a.first_name as referral_first_name,
        b.first_name as case_first_name,
        a.last_name as referral_last_name,
        b.last_name as case_last_name,
        a.dob as referral_dob,
        b.dob as case_dob,
        a.email as referral_email,
        b.email as case_email,
        a.phone as referral_phone,
        b.phone as case_phone,
        a.username as referral_username,
        b.username as case_username,
        a.city as referral_city,
        b.city as case_city,
        a.state as referral_state,
        b.state as case_state,
        a.zip as referral_zip,
        b.zip as case_zip
    from rows as r
    inner join staged as a on a.unique_id = r.referral_id and a.record_type = 'referral'
    left join staged as b on b.unique_id = r.case_id and b.record_type = 'case'
)

select * from final
order by review_id, case_id nulls last
