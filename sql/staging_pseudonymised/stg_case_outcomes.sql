-- Pseudonymised case outcomes staged for linkage (the counterpart of
-- sql/staging/stg_case_outcomes.sql for input written by `linkage pseudonymize`): tokens
-- renamed to the model's column names, Bloom filters from hex into bytes, nothing cleaned
-- (the values were standardised before they were tokenised). Same column set as
-- stg_referrals. Quarantined records (quarantine_case_outcomes) are left out.
with source as (
    select s.*
    from raw_case_outcomes as s
    left join quarantine_case_outcomes as q on q.case_id = s.case_id
    where q.case_id is null or not $apply_quarantine
),

final as (
    select
        case_id as unique_id,
        'case' as record_type,
        cast(null as date) as referral_date,
        cast(opened_at as date) as case_opened_date,
        agency_id,
        nullif(trim(cybertip_ref), '') as tip_ref,
        first_name,
        last_name,
        pseudo_full_name as full_name,
        pseudo_initial_last_name as initial_last_name,
        cast(null as date) as dob,
        pseudo_dob as dob_token,
        pseudo_dob_swap as dob_swap,
        pseudo_dob_ym as dob_ym,
        pseudo_dob_yd as dob_yd,
        pseudo_dob_md as dob_md,
        email,
        pseudo_email_name as email_name,
        phone,
        pseudo_phone_head as phone_head,
        pseudo_phone_tail as phone_tail,
        string_split(pseudo_phone_masks, ' ') as phone_masks,
        username,
        pseudo_username_name as username_name,
        city,
        state,
        zip,
        unhex(pseudo_first_name_bloom) as first_name_bloom,
        unhex(pseudo_last_name_bloom) as last_name_bloom,
        unhex(pseudo_full_name_bloom) as full_name_bloom,
        unhex(pseudo_email_name_bloom) as email_name_bloom,
        unhex(pseudo_username_name_bloom) as username_name_bloom
    from source
)

select * from final
