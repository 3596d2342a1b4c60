"""max_credits: a run never sends more paid starts than its cap, re-sent lost starts included."""

from __future__ import annotations

import pytest

from piktid_prefect.emulator import FaultConfig
from piktid_prefect.flows import edit_backgrounds
from piktid_prefect.wire.errors import NotEnoughCredits
from tests.prefect.helpers import requests_to


def test_re_sent_lost_starts_count_against_max_credits(
    piktid_emulator, account_with, samples, tmp_path, time_scale
) -> None:
    account, creds = account_with(100)
    # Every start answers 500: unconfirmed, so each output waits, then sends its start again.
    piktid_emulator.set_faults(FaultConfig(http_500=1.0, endpoints=("/edit/background",)))
    try:
        with pytest.raises(NotEnoughCredits, match=r"max_credits \(3\) is used up") as stop:
            edit_backgrounds(
                image=str(samples["astronaut"]),
                keywords=[{"nature_landscapes": "Beach"}, {"indoor_spaces": "Office"}],
                credentials=creds,
                out_dir=str(tmp_path),
                max_credits=3,
                timeout_seconds=30 * time_scale,
            )
    finally:
        piktid_emulator.set_faults(FaultConfig())

    # Each output re-sends its lost start (up to 3 starts each): the cap stops the fourth.
    assert requests_to(piktid_emulator.stats(account.email), "/edit/background") == 3
    assert "of 2 outputs were not started" in str(stop.value)
