-- People (suspects and case subjects): legal identity, contacts, online identity, address.
with draws as (
    select * from people_draws
),

named as (
    select
        draws.*,
        fn.name as first_name,
        fn.nickname,
        sn.name as last_name,
        lower(fn.name) as f,
        lower(replace(replace(sn.name, ' ', ''), '''', '')) as l,
        pl.city,
        pl.state,
        pl.zip,
        d1.domain as domain1,
        d2.domain as domain2,
        wa.word as wa,
        wb.word as wb
    from draws
    inner join g_first_names as fn on draws.first_idx = fn.idx
    inner join g_surnames as sn on draws.last_idx = sn.idx
    inner join g_places as pl on draws.place_idx = pl.idx
    inner join g_domains as d1 on draws.email_domain = d1.idx
    inner join g_domains as d2 on draws.email2_domain = d2.idx
    inner join g_words as wa on draws.handle_a = wa.idx
    inner join g_words as wb on draws.handle_b = wb.idx
),

final as (
    select
        person_idx,
        first_name,
        nickname,
        last_name,
        dob_day,
        city,
        state,
        zip,
        phone,
        ip,
        gen_local(email_pattern, f, l, email_num, wa, wb) || '@' || domain1 as email1,
        gen_local(email2_pattern, f, l, email2_num, wb, wa) || '@' || domain2 as email2,
        gen_username(user_pattern, f, l, user_num, wa, wb) as username
    from named
)

select * from final
