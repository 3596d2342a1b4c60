"""Times on the wire are real: a fast virtual clock never hands out a time from the future.

Latencies and lifetimes run on the virtual clock (``time_scale`` real seconds per
API-second, plus ``advance()`` jumps); notification timestamps, link times and token
expirations are real epoch seconds, compared here with ``time.time()``.
"""

from __future__ import annotations

import time
from datetime import datetime

import httpx
import pytest

from piktid_prefect.emulator import EmulatorConfig, EmulatorServer
from piktid_prefect.emulator.clock import VirtualClock

from .conftest import Api

_DAY = 86_400.0


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def test_notification_timestamps_are_never_ahead_of_the_real_clock(api: Api) -> None:
    # The session emulator runs 100x fast and has been advanced by many tests already.
    api.emulator.advance(3_600)
    before = time.time()
    api.generate(api.upload_id(), seed=1)
    (note,) = api.wait_for(1)
    after = time.time()
    assert before <= note["timestamp"] <= after
    assert before - 1 <= float(note["data"]["links"][0]["t"]) <= after + 1  # whole seconds


def test_token_expirations_are_the_real_instants_the_tokens_stop_working() -> None:
    scale = 0.01
    config = EmulatorConfig(time_scale=scale, seed=0, access_token_ttl_seconds=50)
    with EmulatorServer(config) as emulator:
        emulator.advance(_DAY)  # a virtual clock far ahead changes nothing on the wire
        before = time.time()
        tokens = httpx.post(
            f"{emulator.base_url}/tokens", auth=(config.demo_email, config.demo_password)
        ).json()
        after = time.time()
        access_expires = _epoch(tokens["access_expiration"])
        # 50 API-seconds at 0.01 real seconds each: half a real second from issue.
        assert before + 0.5 <= access_expires <= after + 0.5
        refresh_expires = _epoch(tokens["refresh_expiration"])
        ttl = config.refresh_token_ttl_seconds * scale
        assert before + ttl <= refresh_expires <= after + ttl

        me = f"{emulator.base_url}/me"
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert httpx.get(me, headers=headers).status_code == 200
        time.sleep(max(0.0, access_expires - time.time()) + 0.05)
        assert httpx.get(me, headers=headers).status_code == 401


def test_the_virtual_clock_projects_future_instants_at_its_pace() -> None:
    clock = VirtualClock(time_scale=0.1)
    clock.advance(1_000)
    now = time.time()
    assert clock.wall_clock() == pytest.approx(now, abs=0.05)
    assert clock.wall_clock(clock.now() + 100) == pytest.approx(now + 10, abs=0.05)
    assert clock.wall_clock(clock.now() - 100) == pytest.approx(now, abs=0.05)
