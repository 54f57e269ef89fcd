-- Referrals in the data contract's shape with every subject identifier replaced by its token
-- (see pseudo_subjects), the tip number tokenised in keyspace 'tip', and the encodings the
-- pseudonymised linkage model compares as extra pseudo_* columns. dob is NULL (a token is
-- not a date; the tokens are pseudo_dob*). referral_id, agency and offense stay as they
-- are: they are keys and strata, not identifiers of the subject. Extra input columns are
-- not carried: they may hold identifiers this tool does not know about.
with key as (
    select $ipad::blob as ipad, $opad::blob as opad
),

referrals as (
    select * from raw_referrals
),

subjects as (
    select * from pseudo_subjects
    where subject_kind = 'referral'
),

final as (
    select
        r.referral_id,
        pseudo_token(k.ipad, k.opad, 'tip', r.tip_id) as tip_id,
        r.referred_at,
        r.agency_id,
        r.agency_state,
        r.offense_type,
        r.priority,
        s.first_name_token as first_name,
        s.last_name_token as last_name,
        cast(null as date) as dob,
        s.email_token as email,
        s.phone_token as phone,
        s.username_token as username,
        pseudo_token(k.ipad, k.opad, 'ip', nullif(lower(trim(r.ip)), '')) as ip,
        s.city,
        s.state,
        s.zip,
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
    from referrals as r
    inner join subjects as s on s.unique_id = r.referral_id
    cross join key as k
)

select * from final
