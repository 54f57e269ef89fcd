-- The drawn referrals: in each stratum the n_sample referrals with the smallest draw keys
-- (uniform numbers from the seeded generator, read as the view review_draw_input), i.e. a
-- simple random sample without replacement. review_id numbers them in draw-key order, so
-- the order a reviewer reads reveals no stratum.
with frame as (
    select f.*, d.draw_key
    from review_frame as f
    inner join review_draw_input as d on d.referral_id = f.referral_id
),

ranked as (
    select
        f.*,
        s.inclusion_probability,
        s.n_sample,
        row_number() over (
            partition by f.offense_type, f.band order by f.draw_key, f.referral_id
        ) as rank_in_stratum
    from frame as f
    inner join review_strata as s on s.offense_type = f.offense_type and s.band = f.band
),

final as (
    select
        'RV' || lpad(cast(row_number() over (order by draw_key, referral_id) as varchar), 6, '0')
            as review_id,
        referral_id,
        offense_type,
        band,
        inclusion_probability,
        linked_case_id,
        n_candidates
    from ranked
    where rank_in_stratum <= n_sample
)

select * from final
order by review_id
