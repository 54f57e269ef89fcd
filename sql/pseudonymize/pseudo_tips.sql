-- Tips in the data contract's shape with the suspect identifiers tokenised (see
-- pseudo_subjects) and the tip number tokenised in keyspace 'tip' (as on referrals and in
-- case_outcomes.cybertip_ref, so the audit join still works). suspect_dob is NULL (a token
-- is not a date); its token is pseudo_suspect_dob. Country and state are the tipline's IP
-- geolocation (coarse) and stay as they are. Extra input columns are not carried: they may
-- hold identifiers this tool does not know about.
with key as (
    select $ipad::blob as ipad, $opad::blob as opad
),

tips as (
    select * from raw_tips
),

subjects as (
    select * from pseudo_subjects
    where subject_kind = 'tip'
),

final as (
    select
        pseudo_token(k.ipad, k.opad, 'tip', t.tip_id) as tip_id,
        t.received_at,
        t.reporter_type,
        t.reporter_name,
        t.incident_type,
        t.is_urgent,
        t.file_count,
        s.email_token as suspect_email,
        s.username_token as suspect_username,
        s.phone_token as suspect_phone,
        pseudo_token(k.ipad, k.opad, 'ip', nullif(lower(trim(t.suspect_ip)), '')) as suspect_ip,
        s.first_name_token as suspect_first_name,
        s.last_name_token as suspect_last_name,
        cast(null as date) as suspect_dob,
        t.country,
        t.state,
        $scheme as pseudo_scheme,
        $key_check as pseudo_key_check,
        s.dob_token as pseudo_suspect_dob
    from tips as t
    inner join subjects as s on s.unique_id = t.tip_id
    cross join key as k
)

select * from final
