"""Another process spends the balance mid-batch: the first 402 stops every new start."""

from __future__ import annotations

import json
import threading
import time

import pytest

from piktid_prefect.flows import edit_backgrounds
from piktid_prefect.wire.client import PiktidClient
from piktid_prefect.wire.errors import InsufficientCredits, NotEnoughCredits, is_transient
from tests.prefect.helpers import requests_to, started

KEYWORDS = [
    {"nature_landscapes": v} for v in ("Beach", "Forest", "Mountains", "Desert", "Lake", "Garden")
]


def test_a_402_is_insufficient_credits_never_retried(
    piktid_emulator, account_with, samples
) -> None:
    account, _ = account_with(0)
    with PiktidClient(account.base_url, access_token=account.access_token) as client:
        image_id = client.upload_target(samples["astronaut"]).image_id
        with pytest.raises(InsufficientCredits) as refused:
            client.edit_background(image_id, {"nature_landscapes": "Beach"})

    assert refused.value.status_code == 402
    assert not is_transient(refused.value)
    assert requests_to(piktid_emulator.stats(account.email), "/edit/background") == 1


def test_first_402_stops_new_starts_and_in_flight_ones_are_delivered(
    piktid_emulator, account_with, samples, tmp_path, time_scale
) -> None:
    account, creds = account_with(10)  # the preflight sees enough for the 6 outputs

    def spend_the_balance_elsewhere() -> None:
        deadline = time.monotonic() + 30
        while started(piktid_emulator.stats(account.email)) < 1 and time.monotonic() < deadline:
            time.sleep(0.002)
        piktid_emulator.create_account(credits=0, email=account.email, password=account.password)

    other_process = threading.Thread(target=spend_the_balance_elsewhere)
    other_process.start()
    with pytest.raises(NotEnoughCredits, match=r"of 6 outputs were not started") as stop:
        edit_backgrounds(
            image=str(samples["astronaut"]),
            keywords=KEYWORDS,
            credentials=creds,
            out_dir=str(tmp_path),
            max_in_flight=1,
            timeout_seconds=600 * time_scale,
        )
    other_process.join()

    stats = piktid_emulator.stats(account.email)
    paid = stats.credits_charged
    assert 1 <= paid < 6
    assert f"{6 - paid} of 6 outputs were not started" in str(stop.value)
    assert "ran out of credits" in str(stop.value)
    # One 402, then no request at all for the outputs left: no retry storm.
    assert requests_to(stats, "/edit/background") == paid + 1
    delivered = json.loads((tmp_path / "manifest.json").read_text())
    assert len(delivered["outputs"]) == paid  # every paid generation was delivered
    assert delivered["credits"]["spent"] == paid
    assert delivered["credits"]["not_started"] == 6 - paid
