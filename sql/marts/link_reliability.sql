-- Reliability of the match probabilities: for scored candidate pairs (and for the links
-- alone), binned by predicted probability, the mean prediction beside the observed share
-- of true pairs. Well-calibrated probabilities have the two close in every bin.
with truth as (
    select distinct referral_id, case_id from truth_links
),

scored as (
    select
        s.match_probability,
        t.case_id is not null as is_true,
        l.case_id is not null as is_link
    from scored_pairs as s
    left join truth as t on t.referral_id = s.referral_id and t.case_id = s.case_id
    left join links as l on l.referral_id = s.referral_id and l.case_id = s.case_id
),

binned as (
    select
        'candidates' as population,
        least(floor(match_probability * 10), 9) / 10 as bin_low,
        match_probability,
        is_true
    from scored
    union all
    select
        'links',
        least(floor(match_probability * 10), 9) / 10,
        match_probability,
        is_true
    from scored
    where is_link
),

final as (
    select
        population,
        bin_low,
        round(bin_low + 0.1, 1) as bin_high,
        count(*) as n_pairs,
        avg(match_probability) as mean_predicted,
        avg(is_true::double) as observed_share_true,
        count(*) filter (where is_true) as n_true
    from binned
    group by population, bin_low
    order by population, bin_low
)

select * from final
