-- The blocking rules the link stage ran, one row per rule in order: the model's fixed
-- rules and the broad ones this input's pair budget allowed (broad), with the measured
-- pair count of the rule alone where it was measured. Reads link_blocking_rules_input.
with rules as (
    select * from link_blocking_rules_input
),

final as (
    select
        cast(rule_order as bigint) as rule_order,
        cast(blocking_rule as varchar) as blocking_rule,
        cast(broad as boolean) as broad,
        cast(n_pairs_alone as bigint) as n_pairs_alone
    from rules
    order by rule_order
)

select * from final
