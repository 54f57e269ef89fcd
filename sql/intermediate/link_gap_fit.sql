-- The temporal step's fitted parameters, one row per gap bucket: the links' gap share
-- (m_gap) and the mixture's rates (rho, m_agency, u_agency, the same on every row), as
-- fitted by EM on link_gap_cells. Reads the frame link_gap_fit_input.
with fit as (
    select * from link_gap_fit_input
),

final as (
    select
        cast(bucket_order as bigint) as bucket_order,
        cast(m_gap as double) as m_gap,
        cast(rho as double) as rho,
        cast(m_agency as double) as m_agency,
        cast(u_agency as double) as u_agency,
        cast(iterations as bigint) as iterations
    from fit
    order by bucket_order
)

select * from final
