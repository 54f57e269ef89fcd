-- Distinct standardised values that get a Bloom-filter encoding (names and the name-like
-- handles of the e-mail local part and username), from both linkage staging tables. One
-- keyspace for all of them: a handle is compared with a full name.
with referrals as (
    select * from stg_referrals
),

cases as (
    select * from stg_case_outcomes
),

subjects as (
    select first_name, last_name, full_name, email_name, username_name from referrals
    union all
    select first_name, last_name, full_name, email_name, username_name from cases
),

encoded as (
    select unnest([first_name, last_name, full_name, email_name, username_name]) as value
    from subjects
),

final as (
    select distinct value from encoded
    where value is not null
)

select * from final
