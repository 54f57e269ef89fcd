-- Case records in the contract's shape: what an agency recorded about its subject (legal
-- name and DOB, subpoena returns, the account under investigation) and the stages reached.
with draws as (
    select * from case_draws
),

joined as (
    select
        draws.*,
        p.first_name as legal_first,
        p.last_name as legal_last,
        p.email1,
        ag.agency_id,
        pl.city,
        pl.state,
        pl.zip,
        ref.email as ref_email,
        ref.username as ref_username,
        ref.tip_id as ref_tip_id,
        chg.charge_label
    from draws
    inner join gen_people as p on draws.person_idx = p.person_idx
    inner join g_agencies as ag on draws.agency_idx = ag.idx
    left join g_places as pl on draws.place_idx = pl.idx
    left join gen_referrals as ref
        on 'R' || lpad(draws.lead_referral_num::varchar, 8, '0') = ref.referral_id
    left join g_offenses as chg on draws.charge_idx = chg.idx
),

named as (
    select
        *,
        gen_typo(
            case when nickname_flag and nickname_of_legal is not null
                    then nickname_of_legal
                else legal_first
            end,
            first_op, first_pos, first_chr
        ) as given,
        gen_typo(legal_last, last_op, last_pos, last_chr) as family
    from (
        select joined.*, fn.nickname as nickname_of_legal
        from joined
        left join g_first_names as fn on joined.first_idx = fn.idx
    )
),

final as (
    select
        'C' || lpad(case_num::varchar, 8, '0') as case_id,
        agency_id,
        opened_at,
        case when has_name then (case when swap then family else given end) end as first_name,
        case when has_name then (case when swap then given else family end) end as last_name,
        case when has_dob then dob end as dob,
        case email_source
            when 1 then gen_email(lower(trim(ref_email)), email_style, email_ws)
            when 2 then gen_email(email1, email_style, email_ws)
        end as email,
        case when has_phone then gen_phone(phone, phone_style) end as phone,
        case when username_from_referral then ref_username end as username,
        case when has_address then city end as city,
        case when has_address then state end as state,
        case when has_address then zip end as zip,
        charge_label as offense_charged,
        investigated,
        arrested_at,
        charged_at,
        convicted_at,
        case when record_tip then ref_tip_id end as cybertip_ref
    from named
)

select * from final
