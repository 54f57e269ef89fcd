-- Pairwise precision, recall and F1 of each linkage method against truth_links, overall
-- and by the referral's offense type, reporter type and reporter name. A link is a true
-- positive when (referral_id, case_id) is in truth_links; a true pair not linked is a
-- false negative. Strata come from the referral (the links' and the true pairs' alike).
with method_links as (
    select 'splink' as method, referral_id, case_id from links
    union all
    select method, referral_id, case_id from baseline_links
),

methods as (
    select 'splink' as method
    union
    select distinct method from baseline_links
),

truth as (
    select distinct m.method, t.referral_id, t.case_id
    from truth_links as t cross join methods as m
),

pairs as (
    select
        coalesce(l.method, t.method) as method,
        coalesce(l.referral_id, t.referral_id) as referral_id,
        l.case_id is not null as is_link,
        t.case_id is not null as is_true
    from method_links as l
    full outer join truth as t
        on l.method = t.method and l.referral_id = t.referral_id and l.case_id = t.case_id
),

referral_strata as (
    select
        r.referral_id,
        coalesce(r.offense_type, '(missing)') as offense_type,
        coalesce(t.reporter_type, '(missing)') as reporter_type,
        coalesce(t.reporter_name, '(missing)') as reporter_name
    from raw_referrals as r
    left join raw_tips as t on t.tip_id = r.tip_id
),

by_dimension as (
    select p.method, p.is_link, p.is_true, s.dimension, s.stratum
    from pairs as p
    left join referral_strata as rs on rs.referral_id = p.referral_id
    cross join unnest([
        { 'dimension': 'all', 'stratum': 'ALL' },
        { 'dimension': 'offense_type', 'stratum': rs.offense_type },
        { 'dimension': 'reporter_type', 'stratum': rs.reporter_type },
        { 'dimension': 'reporter_name', 'stratum': rs.reporter_name }
    ]) as u (s)
),

counts as (
    select
        method,
        dimension,
        coalesce(stratum, '(missing)') as stratum,
        count(*) filter (where is_true) as n_true,
        count(*) filter (where is_link) as n_links,
        count(*) filter (where is_link and is_true) as tp,
        count(*) filter (where is_link and not is_true) as fp,
        count(*) filter (where is_true and not is_link) as fn
    from by_dimension
    group by all
),

final as (
    select
        *,
        tp / nullif(tp + fp, 0) as precision,
        tp / nullif(tp + fn, 0) as recall,
        2 * tp / nullif(2 * tp + fp + fn, 0) as f1
    from counts
    order by method, dimension, stratum
)

select * from final
