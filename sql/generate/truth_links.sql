-- Which referral truly belongs to which case record (synthetic data only).
with draws as (
    select * from truth_links_draws
),

final as (
    select
        'R' || lpad(referral_num::varchar, 8, '0') as referral_id,
        'C' || lpad(case_num::varchar, 8, '0') as case_id
    from draws
)

select * from final
