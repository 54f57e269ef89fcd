-- Label-free (fastLink-style) estimates of the false-link and missed-link rates, computed
-- from the match probabilities alone, beside the true rates and the blocking recall.
--   expected false links  = sum over links of (1 - p)
--   expected true matches = sum over referrals of min(1, sum of p over its scored pairs):
--                           a referral belongs to at most one case, so its candidate
--                           probabilities cannot add up to more than one match
--   expected missed links = expected true matches - sum over links of p
-- Needs truth_pair_blocking (built by linkage.evaluate from the blocking rules).
with link_stats as (
    select
        count(*) as n_links,
        -- probabilities summed in exact decimals: a parallel double sum adds in a
        -- different order from run to run and changes the last bits
        coalesce(sum(match_probability::decimal(38, 17)), 0)::double as expected_true_links,
        coalesce(sum(1 - match_probability::decimal(38, 17)), 0)::double as expected_false_links
    from links
),

per_referral as (
    select referral_id, least(1.0, sum(match_probability::decimal(38, 17))) as expected_match
    from scored_pairs
    group by referral_id
),

expected_matches as (
    select coalesce(sum(expected_match), 0)::double as expected_matches from per_referral
),

truth as (
    select
        count(*) as n_true,
        count(*) filter (where blocked) as n_true_blocked,
        count(*) filter (where scored) as n_true_scored
    from truth_pair_blocking
),

observed as (
    select
        count(*) filter (where t.case_id is not null) as tp,
        count(*) filter (where t.case_id is null) as fp
    from links as l
    left join (select distinct referral_id, case_id from truth_links) as t
        on t.referral_id = l.referral_id and t.case_id = l.case_id
),

final as (
    select
        ls.n_links,
        ls.expected_false_links,
        ls.expected_false_links / nullif(ls.n_links, 0) as expected_false_link_rate,
        o.fp / nullif(ls.n_links, 0) as observed_false_link_rate,
        em.expected_matches,
        greatest(em.expected_matches - ls.expected_true_links, 0) as expected_missed_links,
        greatest(em.expected_matches - ls.expected_true_links, 0)
        / nullif(em.expected_matches, 0) as expected_missed_link_rate,
        (t.n_true - o.tp) / nullif(t.n_true, 0) as observed_missed_link_rate,
        t.n_true,
        o.tp,
        o.fp,
        t.n_true - o.tp as fn,
        t.n_true_blocked,
        t.n_true_blocked / nullif(t.n_true, 0) as blocking_recall,
        t.n_true_scored / nullif(t.n_true, 0) as scored_recall
    from link_stats as ls
    cross join expected_matches as em
    cross join truth as t
    cross join observed as o
)

select * from final
