-- The reviewer's decisions as imported (validated in linkage.review.labels, read as the
-- view review_labels_input): one row per labelled (referral, case) row of the file, with
-- the referral's stratum and inclusion probability from the sample.
with labels as (
    select * from review_labels_input
),

final as (
    select
        l.review_id,
        l.referral_id,
        l.case_id,
        l.decision,
        l.line,
        s.offense_type,
        s.band,
        s.inclusion_probability
    from labels as l
    inner join review_sample as s on s.review_id = l.review_id
)

select * from final
order by review_id, case_id nulls last
