-- Temporal step of the linkage, one row per (gap bucket, agency agreement): what it was
-- fitted on (link_gap_cells: prior and random-pair gap shares, likely same-person pairs)
-- beside what the fit found (link_gap_fit: the links' gap share and the mixture's rates).
with cells as (
    select * from link_gap_cells
),

fit as (
    select * from link_gap_fit
),

final as (
    select
        c.bucket,
        c.bucket_order,
        c.gap_from,
        c.gap_to,
        c.same_agency,
        c.m_gap_prior,
        c.u_gap,
        c.n_same_person_pairs,
        f.m_gap,
        f.rho,
        f.m_agency,
        f.u_agency
    from cells as c
    inner join fit as f on f.bucket_order = c.bucket_order
    order by c.bucket_order, c.same_agency desc
)

select * from final
