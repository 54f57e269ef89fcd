-- Synthetic data only: the realised true share of referrals reaching each stage, per
-- offense type and ALL, under the estimators' censoring rule (truth_cells). A cell is suppressed
-- (truth null) wherever the primary estimate's cell is, so the truth never shows a cell
-- the published table hides.
with truth as (
    select * from truth_cells
),

primary_rates as (
    select offense_type, stage, rate_kind, suppressed
    from conversion_rates
    where is_primary
),

final as (
    select
        t.offense_type,
        t.stage,
        t.rate_kind,
        case when coalesce(p.suppressed, true) then null else t.truth end as truth,
        coalesce(p.suppressed, true) as suppressed
    from truth as t
    left join primary_rates as p
        on p.offense_type = t.offense_type
            and p.stage = t.stage
            and p.rate_kind = t.rate_kind
    order by t.rate_kind, t.offense_type = 'ALL' desc, t.offense_type, t.stage
)

select * from final
