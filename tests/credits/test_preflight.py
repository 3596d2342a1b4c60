"""Before the first paid start: count what the run will pay for, read the balance, refuse."""

from __future__ import annotations

import json

import pytest

from piktid_prefect.flows import edit_backgrounds
from piktid_prefect.wire.errors import NotEnoughCredits
from tests.prefect.helpers import requests_to

BACKGROUNDS = [
    {"nature_landscapes": "Beach"},
    {"indoor_spaces": "Office"},
    {"seasonal": "Winter"},
    {"florals": "Roses"},
]


def _backgrounds(creds, image, out, time_scale, keywords=BACKGROUNDS, **kwargs):  # type: ignore[no-untyped-def]
    return edit_backgrounds(
        image=str(image),
        keywords=keywords,
        credentials=creds,
        out_dir=str(out),
        timeout_seconds=600 * time_scale,
        **kwargs,
    )


def test_a_run_the_balance_cannot_pay_fails_before_any_start(
    account_with, piktid_emulator, samples, tmp_path, time_scale
) -> None:
    account, creds = account_with(3)

    with pytest.raises(NotEnoughCredits, match="needs 4 credits, the account has 3"):
        _backgrounds(creds, samples["astronaut"], tmp_path, time_scale)

    stats = piktid_emulator.stats(account.email)
    assert requests_to(stats, "/edit/background") == 0
    assert requests_to(stats, "/me") == 1  # the check costs one request
    assert stats.credits_charged == 0


def test_max_credits_below_the_count_fails_before_any_start(
    account_with, piktid_emulator, samples, tmp_path, time_scale
) -> None:
    account, creds = account_with(100)

    with pytest.raises(NotEnoughCredits, match="needs 4 credits, max_credits is 2"):
        _backgrounds(creds, samples["astronaut"], tmp_path, time_scale, max_credits=2)

    assert requests_to(piktid_emulator.stats(account.email), "/edit/background") == 0


def test_allow_partial_makes_the_first_outputs_that_fit_and_names_the_rest(
    account_with, piktid_emulator, samples, tmp_path, time_scale
) -> None:
    account, creds = account_with(2)

    result = _backgrounds(creds, samples["astronaut"], tmp_path, time_scale, allow_partial=True)

    made = [next(iter(o.keyword.values())) for o in result.outputs]
    assert sorted(made) == ["Beach", "Office"]  # the first two, in the order given
    assert [next(iter(f.keyword.values())) for f in result.left_out] == ["Winter", "Roses"]
    assert piktid_emulator.stats(account.email).credits_charged == 2
    assert result.credits is not None
    assert (result.credits.spent, result.credits.balance_before) == (2, 2)
    assert result.credits.balance_after == 0


def test_delivered_and_cached_outputs_are_not_counted(
    account_with, piktid_emulator, samples, tmp_path, time_scale
) -> None:
    account, creds = account_with(2)
    _backgrounds(creds, samples["astronaut"], tmp_path / "a", time_scale, keywords=BACKGROUNDS[:2])

    # The balance is 0 now: only the two outputs already made are free.
    again = _backgrounds(
        creds, samples["astronaut"], tmp_path / "a", time_scale, keywords=BACKGROUNDS[:2]
    )
    elsewhere = _backgrounds(  # a new folder: no manifest, the result cache only
        creds, samples["astronaut"], tmp_path / "b", time_scale, keywords=BACKGROUNDS[:2]
    )
    with pytest.raises(NotEnoughCredits, match="needs 1 credits, the account has 0"):
        _backgrounds(
            creds, samples["astronaut"], tmp_path / "a", time_scale, keywords=BACKGROUNDS[:3]
        )

    assert len(again.outputs) == len(elsewhere.outputs) == 2
    assert piktid_emulator.stats(account.email).credits_charged == 2
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["credits"]["spent"] == 0  # the last run paid nothing
