-- The cleaning rules of the staged identifiers, once for both sides (stg_referrals and
-- stg_case_outcomes call them; `linkage pseudonymize` standardises through the same files
-- before it tokenises). Temporary macros: they live for the connection that builds staging.

-- names: lower-case, no accents, letters only ("O'Brien-Smith" = "obriensmith")
create or replace temp macro stg_name(s) as
nullif(regexp_replace(lower(strip_accents(s)), '[^a-z]', '', 'g'), '');

-- e-mails and usernames: no whitespace, lower-case
create or replace temp macro stg_handle(s) as nullif(lower(regexp_replace(s, '\s', '', 'g')), '');

-- the letters of a handle ("jose.galvan84" -> "josegalvan", "peter_stout678" ->
-- "peterstout"): many handles are built from the name, which links a nameless record to a
-- named one
create or replace temp macro stg_letters(s) as nullif(regexp_replace(s, '[^a-z]', '', 'g'), '');

-- phones: digits only, the US country code dropped ("+1 555 123 4567" = "5551234567")
create or replace temp macro stg_phone(s) as (
    with d as (select nullif(regexp_replace(s, '[^0-9]', '', 'g'), '') as digits)

    select case
        when length(digits) = 11 and starts_with(digits, '1') then substr(digits, 2)
        else digits
    end from d
);

-- ZIP+4 keeps its first five digits; a ZIP that lost leading zeros gets them back
create or replace temp macro stg_zip(s) as (
    with d as (select regexp_replace(s, '[^0-9]', '', 'g') as digits)

    select case
        when length(digits) in (5, 9) then substr(digits, 1, 5)
        when length(digits) in (3, 4) then lpad(digits, 5, '0')
    end from d
);

-- the staged identifiers after the first name (which the nickname lookup canonicalises),
-- in the staged column order; full and initial + last name use the first name as written
create or replace temp macro stg_identity(
    first_name, last_name, dob, email, phone, username,
    city, state, zip) as struct_pack(
    last_name := stg_name(last_name),
    full_name := stg_name(first_name) || stg_name(last_name),
    initial_last_name := left(stg_name(first_name), 1) || stg_name(last_name),
    dob := try_cast(dob as date),
    email := stg_handle(email),
    email_name := stg_letters(split_part(stg_handle(email), '@', 1)),
    phone := stg_phone(phone),
    username := stg_handle(username),
    username_name := stg_letters(stg_handle(username)),
    city := nullif(trim(regexp_replace(lower(strip_accents(city)), '\s+', ' ', 'g')), ''),
    state
    := case when regexp_full_match(upper(trim(state)), '[A-Z]{2}') then upper(trim(state)) end,
    zip := stg_zip(zip)
);
