-- The review's strata (offense type x match-probability band): population size, the
-- allocated sample size (from the allocation computed in linkage.review.design, read as
-- the view review_allocation_input) and the inclusion probability n / N of every referral
-- in the stratum (stratified simple random sampling without replacement).
with frame as (
    select * from review_frame
),

sizes as (
    select
        offense_type,
        band,
        count(*) as n_population,
        count(linked_case_id) as n_linked,
        avg(coalesce(best_probability, 0)) as mean_best_probability
    from frame
    group by offense_type, band
),

final as (
    select
        s.offense_type,
        s.band,
        s.n_population,
        s.n_linked,
        s.mean_best_probability,
        a.score,
        coalesce(a.n_sample, 0) as n_sample,
        coalesce(a.n_sample, 0) / s.n_population as inclusion_probability
    from sizes as s
    left join review_allocation_input as a on a.offense_type = s.offense_type and a.band = s.band
)

select * from final
order by offense_type, band
