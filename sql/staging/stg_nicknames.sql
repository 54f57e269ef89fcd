-- Nickname -> canonical first name, from the lookup shipped in linkage/data/nicknames.csv.
-- $nicknames_path is bound by the runner. One row per nickname so the staging joins
-- never multiply rows.
with source as (
    select *
    from read_csv(
            $nicknames_path,
            header = true,
            columns = { 'nickname': 'varchar', 'canonical': 'varchar' }
        )
),

cleaned as (
    select
        nullif(regexp_replace(lower(strip_accents(trim(nickname))), '[^a-z]', '', 'g'), '')
            as nickname,
        nullif(regexp_replace(lower(strip_accents(trim(canonical))), '[^a-z]', '', 'g'), '')
            as canonical
    from source
),

final as (
    select nickname, min(canonical) as canonical
    from cleaned
    where nickname is not null and canonical is not null
    group by nickname
)

select * from final
