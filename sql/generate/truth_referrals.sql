-- Per referral: the latent drivers of its outcome and the stages it truly reached, with
-- true dates (uncensored: a date after the study's end_date is not in case_outcomes).
with draws as (
    select * from truth_referral_draws
),

final as (
    select
        'R' || lpad(draws.referral_num::varchar, 8, '0') as referral_id,
        (100000000 + draws.tip_num)::varchar as tip_id,
        'P' || lpad(draws.person_num::varchar, 8, '0') as person_id,
        off.name as offense_type,
        draws.is_urgent,
        draws.viral,
        draws.offender_abroad,
        draws.no_contact,
        draws.investigated,
        'C' || lpad(draws.case_num::varchar, 8, '0') as case_id,
        draws.opened_day as opened_at,
        draws.arrest_day as arrested_at,
        draws.charge_day as charged_at,
        draws.convict_day as convicted_at
    from draws
    inner join g_offenses as off on draws.offense_idx = off.idx
)

select * from final
