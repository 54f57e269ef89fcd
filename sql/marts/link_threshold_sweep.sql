-- Sensitivity to the threshold: precision, recall and F1 of "best case per referral with
-- p >= threshold" at several thresholds, observed (against truth_links) and expected from
-- the probabilities alone (expected precision = mean p of the links; expected recall =
-- sum of p of the links / expected true matches, as in link_error_rates).
with thresholds as (
    select
        unnest([0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99])::double as threshold
),

best as (
    select referral_id, case_id, match_probability
    from scored_pairs
    qualify row_number() over (
            partition by referral_id
            order by match_probability desc, match_weight desc, case_id
        ) = 1
),

truth as (
    select distinct referral_id, case_id from truth_links
),

best_truth as (
    select b.match_probability, t.case_id is not null as is_true
    from best as b
    left join truth as t on t.referral_id = b.referral_id and t.case_id = b.case_id
),

expected_matches as (
    -- sums of probabilities in exact decimals: a parallel double sum adds in a
    -- different order from run to run and changes the last bits
    select sum(m)::double as expected_matches
    from (
        select least(1.0, sum(match_probability::decimal(38, 17))) as m from scored_pairs
        group by referral_id
    )
),

counts as (
    select
        th.threshold,
        count(b.match_probability) as n_links,
        count(*) filter (where b.is_true) as tp,
        count(*) filter (where not b.is_true) as fp,
        (select count(*) from truth) as n_true,
        sum(b.match_probability::decimal(38, 17))::double as sum_p
    from thresholds as th
    left join best_truth as b on b.match_probability >= th.threshold
    group by th.threshold
),

final as (
    select
        c.threshold,
        c.n_links,
        c.tp,
        c.fp,
        c.n_true - c.tp as fn,
        c.tp / nullif(c.n_links, 0) as precision,
        c.tp / nullif(c.n_true, 0) as recall,
        2 * c.tp / nullif(c.n_links + c.n_true, 0) as f1,
        c.sum_p / nullif(c.n_links, 0) as expected_precision,
        c.sum_p / nullif(e.expected_matches, 0) as expected_recall,
        2 * c.sum_p / nullif(c.n_links + e.expected_matches, 0) as expected_f1
    from counts as c
    cross join expected_matches as e
    order by c.threshold
)

select * from final
