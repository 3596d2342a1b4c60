"""Pytest fixtures that run the PiktID emulator (registered through the ``pytest11`` entry point).

Installing ``piktid-prefect[emulator]`` makes two fixtures available to every test suite:

- ``piktid_emulator`` (session scope): an :class:`~piktid_prefect.emulator.EmulatorServer` on
  a free loopback port, with ``time_scale=0.01`` (an 8 s generation takes 80 ms; the 3 s
  poll interval 30 ms). Use it to inspect ``stats()``, inject faults with ``set_faults()``,
  or jump the virtual clock with ``advance()``.
- ``piktid_account`` (function scope): a fresh, isolated account with 10 000 credits,
  logged in (``email``, ``password``, ``access_token``, ``base_url``). Faults are reset to
  none before each test.

Example, testing your own flow against the emulator:

```python
import httpx

def test_my_upload(piktid_emulator, piktid_account):
    response = httpx.post(
        f"{piktid_account.base_url}/edit/target",
        headers={"Authorization": f"Bearer {piktid_account.access_token}"},
        files={"file": open("portrait.jpg", "rb")},
    )
    assert response.json()["num_persons"] == 1
    assert piktid_emulator.stats(piktid_account.email).credits_charged == 0
```
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from piktid_prefect.emulator.config import EmulatorConfig, FaultConfig
from piktid_prefect.emulator.server import EmulatorAccount, EmulatorServer

__all__ = ["piktid_account", "piktid_emulator"]

FAST_TIME_SCALE = 0.01


@pytest.fixture(scope="session")
def piktid_emulator() -> Iterator[EmulatorServer]:
    """A PiktID emulator on loopback for the whole session, 100x faster than real time."""
    with EmulatorServer(EmulatorConfig(time_scale=FAST_TIME_SCALE, seed=0)) as emulator:
        yield emulator


@pytest.fixture
def piktid_account(piktid_emulator: EmulatorServer) -> EmulatorAccount:
    """A fresh, logged-in emulator account (10 000 credits) with no faults injected."""
    piktid_emulator.set_faults(FaultConfig())
    return piktid_emulator.create_account(credits=10_000)
