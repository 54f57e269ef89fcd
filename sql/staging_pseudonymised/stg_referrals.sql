-- Pseudonymised referrals staged for linkage (the counterpart of sql/staging/stg_referrals.sql
-- for input written by `linkage pseudonymize`). The values were standardised BEFORE they were
-- tokenised, so nothing is cleaned here: the tokens are only renamed to the column names
-- the linkage model uses (the same as the clear staging's, plus the encodings) and the
-- Bloom filters turned back from hex into bytes. Same column set as stg_case_outcomes.
with source as (
    select * from raw_referrals
),

final as (
    select
        referral_id as unique_id,
        'referral' as record_type,
        cast(referred_at as date) as referral_date,
        cast(null as date) as case_opened_date,
        agency_id,
        tip_id as tip_ref,
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
