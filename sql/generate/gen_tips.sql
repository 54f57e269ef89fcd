-- Tips in the contract's shape, from per-tip draws and the people they are about.
with draws as (
    select * from tip_draws
),

joined as (
    select
        draws.*,
        p.first_name,
        p.nickname,
        p.last_name,
        p.state as person_state,
        case when draws.email_which then p.email2 else p.email1 end as email,
        p.username
    from draws
    inner join gen_people as p on draws.person_idx = p.person_idx
),

named as (
    select
        *,
        gen_typo(
            case when nickname_flag and nickname is not null then nickname else first_name end,
            first_op, first_pos, first_chr
        ) as given,
        gen_typo(last_name, last_op, last_pos, last_chr) as family
    from joined
),

final as (
    select
        (100000000 + tip_num)::varchar as tip_id,
        received_at,
        case when reporter_idx < 0 then 'public' else 'esp' end as reporter_type,
        esp.name as reporter_name,
        inc.incident_type,
        is_urgent,
        file_count,
        case when has_email then gen_email(email, email_style, email_ws) end as suspect_email,
        case when has_username then username end as suspect_username,
        case when has_phone then gen_phone(phone, phone_style) end as suspect_phone,
        case when has_ip then gen_ip(ip) end as suspect_ip,
        case when has_name then (case when swap then family else given end) end
            as suspect_first_name,
        case when has_name then (case when swap then given else family end) end
            as suspect_last_name,
        case when has_dob then dob end as suspect_dob,
        ctry.code as country,
        case when ctry.code = 'US' then person_state end as state,
        tip_num  -- integer twin of tip_id for fast joins and ordering (not written out)
    from named
    left join g_esps as esp on named.reporter_idx = esp.idx
    inner join g_incidents as inc on named.incident_idx = inc.idx
    left join g_countries as ctry on named.country_idx = ctry.idx
)

select * from final
