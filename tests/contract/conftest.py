"""The client against the real emulator over loopback HTTP, sync and async alike."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from piktid_prefect.emulator import EmulatorAccount
from piktid_prefect.wire._retry import RetryPolicy
from piktid_prefect.wire.client import AsyncPiktidClient, PiktidClient, Timeouts
from piktid_prefect.wire.models import GenerationJob, Notification
from tests.client.conftest import call

# The emulator runs 100x faster than real time: its 3 s poll limit is 30 ms.
FAST_RETRY = RetryPolicy(max_attempts=6, base_delay_seconds=0.01, max_delay_seconds=1.0)
TIMEOUTS = Timeouts(connect_seconds=5, read_seconds=10, upload_seconds=20, download_seconds=20)


@pytest.fixture
def make_client(
    flavour: str, piktid_account: EmulatorAccount
) -> Iterator[Callable[..., PiktidClient | AsyncPiktidClient]]:
    """Build a client of the current flavour on the emulator (the account's token by default)."""
    made: list[PiktidClient | AsyncPiktidClient] = []

    def make(**kwargs: Any) -> PiktidClient | AsyncPiktidClient:
        if "email" not in kwargs and "access_token" not in kwargs:
            kwargs["access_token"] = piktid_account.access_token
        kwargs.setdefault("retry", FAST_RETRY)
        kwargs.setdefault("timeouts", TIMEOUTS)
        cls = PiktidClient if flavour == "sync" else AsyncPiktidClient
        client = cls(piktid_account.base_url, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        if isinstance(client, PiktidClient):
            client.close()


async def wait_for(
    client: PiktidClient | AsyncPiktidClient, job: GenerationJob, timeout_seconds: float = 15.0
) -> Notification:
    """Poll until the job's notification (or its error) arrives; delete it; return it."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        for note in await call(client.notifications(image_id=job.image_id)):
            if job.matches(note):
                await call(client.delete_notification(note.id))
                return note
        await asyncio.sleep(0.05)
    raise AssertionError(f"no notification for {job.label}")
