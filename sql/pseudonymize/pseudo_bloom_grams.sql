-- One row per character bigram of the encoded values: the bigram's $bloom_hashes keyed bit
-- positions in a filter of $bloom_bits bits, as a BIT string. Position i of a bigram is an
-- HMAC of the bigram in keyspace 'bloom-<i>', so without the key nobody can compute which
-- bits a bigram sets (no dictionary attack on the filters).
with key as (
    select $ipad::blob as ipad, $opad::blob as opad
),

grams as (
    select distinct unnest(pseudo_bigrams(value)) as gram from pseudo_bloom_inputs
),

positions as (
    select
        g.gram,
        ('0x' || left(pseudo_token(k.ipad, k.opad, 'bloom-' || h.i::varchar, g.gram), 8))
        ::ubigint % $bloom_bits as pos
    from grams as g
    cross join range($bloom_hashes) as h (i)
    cross join key as k
),

final as (
    select gram, bitstring_agg(pos::integer, 0, $bloom_bits - 1) as bits
    from positions
    group by gram
)

select * from final
