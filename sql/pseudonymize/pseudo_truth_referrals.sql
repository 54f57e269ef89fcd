-- Synthetic truth per referral with the tip number tokenised like tips.tip_id, so the
-- evaluation of a pseudonymised study joins it as it joins the clear one. Only written
-- when the input carries a truth/ folder (generated data).
with key as (
    select $ipad::blob as ipad, $opad::blob as opad
),

truth as (
    select * from truth_referrals
),

final as (
    select
        t.* replace (pseudo_token(k.ipad, k.opad, 'tip', t.tip_id) as tip_id)
    from truth as t
    cross join key as k
)

select * from final
