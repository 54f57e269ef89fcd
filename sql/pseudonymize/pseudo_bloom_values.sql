-- The Bloom filter of each encoded value: the OR of its bigrams' bit patterns, as hex
-- (bloom_bits / 4 digits) so it survives CSV as well as Parquet.
with grams as (
    select value, unnest(pseudo_bigrams(value)) as gram from pseudo_bloom_inputs
),

bits as (
    select gram, bits from pseudo_bloom_grams
),

final as (
    select g.value, hex(bit_or(b.bits)::blob) as bloom
    from grams as g
    inner join bits as b on b.gram = g.gram
    group by g.value
)

select * from final
