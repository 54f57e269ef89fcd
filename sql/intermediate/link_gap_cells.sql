-- What the temporal step of the linkage is fitted on, one row per (gap bucket, agency
-- agreement): the prior share of true links in the gap bucket (m_gap_prior, bound from the
-- linkage model), the share among random referral-case pairs (u_gap, exact, from the two
-- date histograms) and how many likely same-person candidate pairs fall in the cell.
-- Reads the Splink identity scores from the view linkage_identity_pairs.
with buckets as (
    select
        unnest($bucket_names) as bucket,
        unnest($bucket_lo) as lo,
        unnest($bucket_hi) as hi,
        unnest($m_gap) as m_gap_prior,
        generate_subscripts($bucket_names, 1) as bucket_order
),

flags as (
    select unnest([true, false]) as same_agency
),

referral_days as (
    select referral_date as d, count(*) as n from stg_referrals
    group by referral_date
),

case_days as (
    select case_opened_date as d, count(*) as n from stg_case_outcomes
    group by case_opened_date
),

random_pairs as (
    select date_diff('day', r.d, c.d) as gap, r.n * c.n as n_pairs
    from referral_days as r cross join case_days as c
),

u as (
    select b.bucket, sum(p.n_pairs) / (select sum(n_pairs) from random_pairs) as u_gap
    from random_pairs as p
    inner join buckets as b on p.gap between b.lo and b.hi
    group by b.bucket
),

same_person as (
    select b.bucket, p.same_agency, count(*) as n_pairs
    from linkage_identity_pairs as p
    inner join buckets as b on p.gap_days between b.lo and b.hi
    where p.identity_probability >= $identity_floor
    group by b.bucket, p.same_agency
),

final as (
    select
        b.bucket,
        b.bucket_order,
        b.lo as gap_from,
        b.hi as gap_to,
        f.same_agency,
        b.m_gap_prior,
        -- a bucket no random pair falls in still gets a tiny u, so odds stay finite
        greatest(coalesce(u.u_gap, 0), 1e-6) as u_gap,
        coalesce(s.n_pairs, 0) as n_same_person_pairs
    from buckets as b
    cross join flags as f
    left join u on u.bucket = b.bucket
    left join same_person as s
        on s.bucket = b.bucket and s.same_agency = f.same_agency
    order by b.bucket_order, f.same_agency desc
)

select * from final
