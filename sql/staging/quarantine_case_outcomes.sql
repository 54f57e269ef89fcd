-- Case records a run survives but does not link: every raw_case_outcomes column, plus the
-- reason. Today one rule: stage dates out of order (each stage date against the latest
-- earlier one present; DuckDB's greatest skips NULLs, so "charged before opened" is caught
-- without an arrest date). raw_case_outcomes itself stays as loaded; staging skips these.
with source as (
    select * from raw_case_outcomes
),

reasoned as (
    select
        *,
        case
            when arrested_at < opened_at then 'arrested_at before opened_at'
            when charged_at < greatest(opened_at, arrested_at)
                then 'charged_at before an earlier stage'
            when convicted_at < greatest(opened_at, arrested_at, charged_at)
                then 'convicted_at before an earlier stage'
        end as reason
    from source
),

final as (
    select * from reasoned
    where reason is not null
    order by case_id
)

select * from final
