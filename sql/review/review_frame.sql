-- The review's sampling frame: one row per referral, with its stratum = offense type x the
-- band of its best candidate's match probability ('none' = no candidate pair at all;
-- otherwise [lower, upper) of the cut points $band_edges). The link it had when the
-- sample was drawn is kept here, so the error rates refer to those links.
with referrals as (
    select referral_id, coalesce(offense_type, '(missing)') as offense_type
    from raw_referrals
),

best as (
    select
        referral_id,
        count(*) as n_candidates,
        max(match_probability) as best_probability
    from scored_pairs
    group by referral_id
),

banded as (
    select
        r.referral_id,
        r.offense_type,
        coalesce(b.n_candidates, 0) as n_candidates,
        b.best_probability,
        l.case_id as linked_case_id,
        l.match_probability as link_probability,
        case
            when b.best_probability is not null
                then len(list_filter($band_edges, lambda e: e <= b.best_probability))
        end as band_index
    from referrals as r
    left join best as b on b.referral_id = r.referral_id
    left join links as l on l.referral_id = r.referral_id
),

final as (
    select
        referral_id,
        offense_type,
        n_candidates,
        best_probability,
        linked_case_id,
        link_probability,
        case
            when band_index is null then 'none'
            else printf(
                    '%.3g-%.3g',
                    case when band_index = 0 then 0.0 else $band_edges[band_index] end,
                    case
                        when band_index = len($band_edges) then 1.0
                        else $band_edges[band_index + 1]
                    end
                )
        end as band
    from banded
)

select * from final
order by referral_id
