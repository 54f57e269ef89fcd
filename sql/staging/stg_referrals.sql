-- Referrals standardised for linkage: one row per raw_referrals row, with the same column
-- set as stg_case_outcomes (Splink needs identical columns; the side-specific ones are null
-- on the other side). The only join is the nickname lookup.
with source as (
    select * from raw_referrals
),

cleaned as (
    select
        referral_id,
        tip_id,
        referred_at,
        agency_id,
        -- names: lower-case, no accents, letters only ("O'Brien-Smith" = "obriensmith")
        nullif(regexp_replace(lower(strip_accents(first_name)), '[^a-z]', '', 'g'), '')
            as first_name,
        nullif(regexp_replace(lower(strip_accents(last_name)), '[^a-z]', '', 'g'), '')
            as last_name,
        try_cast(dob as date) as dob,
        nullif(lower(regexp_replace(email, '\s', '', 'g')), '') as email,
        nullif(regexp_replace(phone, '[^0-9]', '', 'g'), '') as phone_digits,
        nullif(lower(regexp_replace(username, '\s', '', 'g')), '') as username,
        nullif(trim(regexp_replace(lower(strip_accents(city)), '\s+', ' ', 'g')), '') as city,
        upper(trim(state)) as state_raw,
        regexp_replace(zip, '[^0-9]', '', 'g') as zip_digits
    from source
),

nicknames as (
    select nickname, canonical from stg_nicknames
),

final as (
    select
        c.referral_id as unique_id,
        'referral' as record_type,
        cast(c.referred_at as date) as referral_date,
        cast(null as date) as case_opened_date,
        c.agency_id,
        c.tip_id as tip_ref,
        coalesce(n.canonical, c.first_name) as first_name,
        c.last_name,
        c.first_name || c.last_name as full_name,
        left(c.first_name, 1) || c.last_name as initial_last_name,
        c.dob,
        c.email,
        -- letters of the e-mail's local part ("jose.galvan84@" -> "josegalvan"): many
        -- addresses are built from the name, which links a nameless record to a named one
        nullif(regexp_replace(split_part(c.email, '@', 1), '[^a-z]', '', 'g'), '') as email_name,
        -- drop the US country code so "+1 555 123 4567" equals "5551234567"
        case
            when length(c.phone_digits) = 11 and starts_with(c.phone_digits, '1')
                then substr(c.phone_digits, 2)
            else c.phone_digits
        end as phone,
        c.username,
        -- letters of the username ("peter_stout678" -> "peterstout"), same reason
        nullif(regexp_replace(c.username, '[^a-z]', '', 'g'), '') as username_name,
        c.city,
        case when regexp_full_match(c.state_raw, '[A-Z]{2}') then c.state_raw end as state,
        -- ZIP+4 keeps its first five digits; a ZIP that lost leading zeros gets them back
        case
            when length(c.zip_digits) in (5, 9) then substr(c.zip_digits, 1, 5)
            when length(c.zip_digits) in (3, 4) then lpad(c.zip_digits, 5, '0')
        end as zip
    from cleaned as c
    left join nicknames as n on n.nickname = c.first_name
)

select * from final
