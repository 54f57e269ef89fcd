-- Every record's subject identifiers as keyed tokens (one row per staged referral, case and
-- tip), computed once here for the three output tables. The values tokenised are the
-- STANDARDISED ones (linkage staging: case, accents, punctuation, nicknames, phone digits),
-- so two records agree on a token exactly when the clear linkage would see them agree.
-- Tokens: pseudo_token (HMAC-SHA256, 128 bits) in one keyspace per kind of identifier;
-- names, surnames and name-like handles share the 'name' keyspace because the model
-- compares them with each other (first/last swaps, handle = full name). Encodings for the
-- fuzzy levels (referrals and cases only; tips are not linked):
-- * date of birth: the full date and, instead of single components (a month or day token
--   has 12 or 31 values and falls to frequency analysis), tokens of component PAIRS:
--   year-month, year-day, month-day (two of three parts agree = one pair token agrees)
--   and year + {month, day} unordered (day and month swapped = this token agrees);
-- * phone: the first and last five digits (the blocking rules) and one masked token per
--   digit (one digit keyed wrong = one masked token agrees);
-- * names and handles: keyed Bloom filters of bigrams (pseudo_bloom_values), compared by
--   Dice similarity.
with key as (
    select $ipad::blob as ipad, $opad::blob as opad
),

staged as (
    select 'referral' as subject_kind, * from stg_referrals
    union all by name
    select 'case' as subject_kind, * from stg_case_outcomes
    union all by name
    select 'tip' as subject_kind, * from pseudo_tipstage.stg_referrals
),

bloom as (
    select value, bloom from pseudo_bloom_values
),

tokens as (
    select
        s.subject_kind,
        s.unique_id,
        s.first_name,
        s.last_name,
        s.full_name,
        s.email_name,
        s.username_name,
        pseudo_token(k.ipad, k.opad, 'name', s.first_name) as first_name_token,
        pseudo_token(k.ipad, k.opad, 'name', s.last_name) as last_name_token,
        pseudo_token(k.ipad, k.opad, 'email', s.email) as email_token,
        pseudo_token(k.ipad, k.opad, 'phone', s.phone) as phone_token,
        pseudo_token(k.ipad, k.opad, 'username', s.username) as username_token,
        pseudo_token(k.ipad, k.opad, 'dob', strftime(s.dob, '%Y-%m-%d')) as dob_token,
        case when s.subject_kind <> 'tip' then struct_pack(
                    city := pseudo_token(k.ipad, k.opad, 'city', s.city),
                    state := pseudo_token(k.ipad, k.opad, 'state', s.state),
                    zip := pseudo_token(k.ipad, k.opad, 'zip', s.zip),
                    full_name := pseudo_token(k.ipad, k.opad, 'name', s.full_name),
                    initial_last_name := pseudo_token(k.ipad, k.opad, 'name', s.initial_last_name),
                    email_name := pseudo_token(k.ipad, k.opad, 'name', s.email_name),
                    username_name := pseudo_token(k.ipad, k.opad, 'name', s.username_name),
                    phone_head := pseudo_token(k.ipad, k.opad, 'phone-head', left(s.phone, 5)),
                    phone_tail := pseudo_token(k.ipad, k.opad, 'phone-tail', right(s.phone, 5)),
                    phone_masks := pseudo_masks(k.ipad, k.opad, 'phone-mask', s.phone),
                    dob_swap := pseudo_token(
                        k.ipad, k.opad, 'dob-swap',
                        year(s.dob)::varchar || '-' || least(month(s.dob), day(s.dob))::varchar
                        || '-' || greatest(month(s.dob), day(s.dob))::varchar
                    ),
                    dob_ym := pseudo_token(k.ipad, k.opad, 'dob-ym', strftime(s.dob, '%Y-%m')),
                    dob_yd := pseudo_token(k.ipad, k.opad, 'dob-yd', strftime(s.dob, '%Y-%d')),
                    dob_md := pseudo_token(k.ipad, k.opad, 'dob-md', strftime(s.dob, '%m-%d'))
                )
        end as linkage_tokens
    from staged as s
    cross join key as k
),

final as (
    select
        t.subject_kind,
        t.unique_id,
        t.first_name_token,
        t.last_name_token,
        t.email_token,
        t.phone_token,
        t.username_token,
        t.dob_token,
        unnest(t.linkage_tokens),
        b_first.bloom as first_name_bloom,
        b_last.bloom as last_name_bloom,
        b_full.bloom as full_name_bloom,
        b_email.bloom as email_name_bloom,
        b_user.bloom as username_name_bloom
    from tokens as t
    left join bloom as b_first on t.subject_kind <> 'tip' and b_first.value = t.first_name
    left join bloom as b_last on t.subject_kind <> 'tip' and b_last.value = t.last_name
    left join bloom as b_full on t.subject_kind <> 'tip' and b_full.value = t.full_name
    left join bloom as b_email on t.subject_kind <> 'tip' and b_email.value = t.email_name
    left join bloom as b_user on t.subject_kind <> 'tip' and b_user.value = t.username_name
)

select * from final
