"""The run's ledger and the choice of what a balance pays for (no server needed)."""

from __future__ import annotations

import pytest

from piktid_prefect.runtime.credits import (
    CreditBudget,
    RunLedger,
    affordable,
    charged_to,
    spend_one,
)
from piktid_prefect.wire.errors import BadRequest, InsufficientCredits, NotEnoughCredits


def test_short_balance_refuses_unless_partial_which_keeps_the_first_in_order() -> None:
    with pytest.raises(NotEnoughCredits, match=r"needs 4 credits, the account has 2\.5"):
        affordable("abcd", 2.5, None, allow_partial=False)
    assert affordable("abcd", 2.5, None, allow_partial=True) == (["a", "b"], ["c", "d"])
    assert affordable("abcd", 10, 3, allow_partial=True) == (["a", "b", "c"], ["d"])


def test_unknown_balance_is_limited_by_max_credits_only() -> None:
    assert affordable("abc", None, None, allow_partial=False) == (["a", "b", "c"], [])
    with pytest.raises(NotEnoughCredits, match="max_credits is 1"):
        affordable("abc", None, 1, allow_partial=False)


def test_ledger_refuses_past_max_credits_and_after_a_402() -> None:
    capped = RunLedger(max_credits=2)
    capped.reserve()
    capped.reserve()
    with pytest.raises(NotEnoughCredits, match=r"max_credits \(2\) is used up"):
        capped.reserve()
    assert (capped.sent, capped.spent) == (2, 2)

    broke = RunLedger(max_credits=None)
    broke.reserve()
    broke.refused(BadRequest("bad keyword", status_code=400))  # refused, the run goes on
    broke.reserve()
    broke.refused(InsufficientCredits("no credits", status_code=402))
    with pytest.raises(NotEnoughCredits, match="ran out of credits"):
        broke.reserve()
    assert (broke.sent, broke.spent) == (2, 0)


def test_starts_count_only_inside_a_runs_budget() -> None:
    spend_one()  # outside any run: nothing counted, nothing refused
    budget = CreditBudget(run_key="test-starts-count-only-inside", max_credits=1)
    with charged_to(budget) as ledger:
        spend_one()
        with pytest.raises(NotEnoughCredits):
            spend_one()
    spend_one()
    assert ledger is not None and ledger.sent == 1
