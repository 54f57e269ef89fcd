"""The toolkit's errors survive a process boundary (a worker's error reaches the caller as
itself, with its message and exit code, instead of breaking the process pool)."""

from __future__ import annotations

import pickle

import pytest

from linkage import errors


def test_a_contract_error_with_several_violations_round_trips():
    first = errors.ContractError("3 ids repeat", table="raw_referrals", rule="unique",
                                 column="referral_id", file="referrals.csv", n_rows=3)
    first.violations.append(errors.ContractError("empty", table="raw_tips", rule="not null"))
    again = pickle.loads(pickle.dumps(first))
    assert type(again) is errors.ContractError and str(again) == str(first)
    assert (again.table, again.rule, again.column, again.file, again.n_rows, again.exit_code) \
        == ("raw_referrals", "unique", "referral_id", "referrals.csv", 3, 4)
    assert again.violations[0] is again and again.violations[1].line == first.violations[1].line


@pytest.mark.parametrize("cls", [c for c in vars(errors).values() if isinstance(c, type)
                                 and issubclass(c, errors.ToolkitError)
                                 and c is not errors.ContractError])
def test_every_other_error_round_trips(cls):
    err = cls("something named went wrong")
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is cls and str(again) == str(err) and again.exit_code == err.exit_code
