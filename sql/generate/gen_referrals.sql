-- Referrals in the contract's shape: the tip's identifiers as forwarded, plus what the
-- tipline adds (legal name and DOB from research, city/state/zip from IP geolocation).
with draws as (
    select * from referral_draws
),

joined as (
    select
        draws.*,
        t.suspect_first_name,
        t.suspect_last_name,
        t.suspect_dob,
        t.suspect_email,
        t.suspect_phone,
        t.suspect_username,
        t.suspect_ip,
        p.first_name,
        p.last_name,
        ag.agency_id,
        ag.state as agency_state,
        off.name as offense_type,
        geo.city as geo_city,
        geo.state as geo_state,
        geo.zip as geo_zip
    from draws
    inner join gen_tips as t on draws.tip_num = t.tip_num
    inner join gen_people as p on draws.person_idx = p.person_idx
    inner join g_agencies as ag on draws.agency_idx = ag.idx
    inner join g_offenses as off on draws.offense_idx = off.idx
    left join g_places as geo on draws.geo_place_idx = geo.idx
),

final as (
    select
        'R' || lpad(referral_num::varchar, 8, '0') as referral_id,
        (100000000 + tip_num)::varchar as tip_id,
        referred_at,
        agency_id,
        agency_state,
        offense_type,
        priority,
        coalesce(
            suspect_first_name,
            case when enrich_name then gen_typo(first_name, first_op, first_pos, first_chr) end
        ) as first_name,
        coalesce(
            suspect_last_name,
            case when enrich_name then gen_typo(last_name, last_op, last_pos, last_chr) end
        ) as last_name,
        coalesce(suspect_dob, case when enrich_dob then enriched_dob end) as dob,
        suspect_email as email,
        suspect_phone as phone,
        suspect_username as username,
        suspect_ip as ip,
        case when suspect_ip is not null and geo_found then geo_city end as city,
        case when suspect_ip is not null and geo_found then geo_state end as state,
        case when suspect_ip is not null and geo_found then geo_zip end as zip
    from joined
)

select * from final
