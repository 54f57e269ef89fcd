-- Case outcomes in the data contract's shape with every subject identifier replaced by its
-- token (see pseudo_subjects), cybertip_ref tokenised in keyspace 'tip' (it still equals
-- the token of the referral's tip_id: the audit join works), and the same pseudo_*
-- encodings as pseudo_referrals. dob is NULL (the tokens are pseudo_dob*). case_id,
-- agency, dates and outcomes stay as they are. Extra input columns are not carried.
with key as (
    select $ipad::blob as ipad, $opad::blob as opad
),

cases as (
    select * from raw_case_outcomes
),

subjects as (
    select * from pseudo_subjects
    where subject_kind = 'case'
),

final as (
    select
        c.case_id,
        c.agency_id,
        c.opened_at,
        s.first_name_token as first_name,
        s.last_name_token as last_name,
        cast(null as date) as dob,
        s.email_token as email,
        s.phone_token as phone,
        s.username_token as username,
        s.city,
        s.state,
        s.zip,
        c.offense_charged,
        c.investigated,
        c.arrested_at,
        c.charged_at,
        c.convicted_at,
        pseudo_token(k.ipad, k.opad, 'tip', nullif(trim(c.cybertip_ref), '')) as cybertip_ref,
        $scheme as pseudo_scheme,
        $key_check as pseudo_key_check,
        s.full_name as pseudo_full_name,
        s.initial_last_name as pseudo_initial_last_name,
        s.email_name as pseudo_email_name,
        s.username_name as pseudo_username_name,
        s.phone_head as pseudo_phone_head,
        s.phone_tail as pseudo_phone_tail,
        s.phone_masks as pseudo_phone_masks,
        s.dob_token as pseudo_dob,
        s.dob_swap as pseudo_dob_swap,
        s.dob_ym as pseudo_dob_ym,
        s.dob_yd as pseudo_dob_yd,
        s.dob_md as pseudo_dob_md,
        s.first_name_bloom as pseudo_first_name_bloom,
        s.last_name_bloom as pseudo_last_name_bloom,
        s.full_name_bloom as pseudo_full_name_bloom,
        s.email_name_bloom as pseudo_email_name_bloom,
        s.username_name_bloom as pseudo_username_name_bloom
    from cases as c
    inner join subjects as s on s.unique_id = c.case_id
    cross join key as k
)

select * from final
