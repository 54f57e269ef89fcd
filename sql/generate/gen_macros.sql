-- Macros the generator's SQL uses to turn numpy-drawn codes into strings (run as a script).
create or replace macro gen_pos(s, u) as 1 + least(floor(u * length(s))::integer, length(s) - 1);

-- One typo: op 1 substitute, 2 delete, 3 insert, 4 transpose with the next letter.
create or replace macro gen_typo(s, op, u, c) as case
    when s is null or op = 0 or length(s) < 3 then s
    when op = 1 then substr(s, 1, gen_pos(s, u) - 1) || chr(97 + c) || substr(s, gen_pos(s, u) + 1)
    when op = 2 then substr(s, 1, gen_pos(s, u) - 1) || substr(s, gen_pos(s, u) + 1)
    when op = 3 then substr(s, 1, gen_pos(s, u)) || chr(97 + c) || substr(s, gen_pos(s, u) + 1)
    else substr(s, 1, gen_pos(s, u) - 1) || substr(s, gen_pos(s, u) + 1, 1)
        || substr(s, gen_pos(s, u), 1) || substr(s, gen_pos(s, u) + 2)
end;

create or replace macro gen_local(pattern, f, l, num, wa, wb) as case pattern
    when 0 then f || '.' || l
    when 1 then f || l || num::varchar
    when 2 then left(f, 1) || l
    when 3 then f || num::varchar
    else wa || wb || num::varchar
end;

create or replace macro gen_username(pattern, f, l, num, wa, wb) as case pattern
    when 0 then f || l || num::varchar
    when 1 then wa || '_' || wb
    when 2 then l || (num % 100)::varchar
    else wa || wb || num::varchar
end;

-- Style 0 digits, 1 (555) 123-4567, 2 555-123-4567, 3 +1 555.123.4567, 4 1-555-123-4567.
create or replace macro gen_phone(p, style) as case style
    when 0 then p::varchar
    when
        1
        then '('
            || left(p::varchar, 3)
            || ') '
            || substr(p::varchar, 4, 3)
            || '-'
            || right(p::varchar, 4)
    when
        2
        then left(p::varchar, 3) || '-' || substr(p::varchar, 4, 3) || '-' || right(p::varchar, 4)
    when
        3
        then '+1 '
            || left(p::varchar, 3)
            || '.'
            || substr(p::varchar, 4, 3)
            || '.'
            || right(p::varchar, 4)
    else '1-'
        || left(p::varchar, 3)
        || '-'
        || substr(p::varchar, 4, 3)
        || '-'
        || right(p::varchar, 4)
end;

-- Style 0 as is, 1 capitalised, 2 upper case; optional stray spaces around.
create or replace macro gen_email(e, style, ws) as
(case when ws then ' ' else '' end)
|| (case style when 1 then upper(left(e, 1)) || substr(e, 2) when 2 then upper(e) else e end)
|| (case when ws then ' ' else '' end);

create or replace macro gen_ip(ip) as
(ip // 16777216)::varchar || '.' || ((ip // 65536) % 256)::varchar || '.'
|| ((ip // 256) % 256)::varchar || '.' || (ip % 256)::varchar;

create or replace macro gen_cap(s) as upper(left(s, 1)) || substr(s, 2);
