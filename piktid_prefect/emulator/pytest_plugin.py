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

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

import pytest

from piktid_prefect.emulator.config import EmulatorConfig, FaultConfig
from piktid_prefect.emulator.server import EmulatorAccount, EmulatorServer

__all__ = ["piktid_account", "piktid_emulator", "pytest_configure", "pytest_sessionfinish"]

FAST_TIME_SCALE = 0.01
# A flow run in a test starts Prefect's temporary server; on a fresh PREFECT_HOME its
# database migrations alone took 18 s on 2 idle cores, more than Prefect's default 20 s
# startup timeout on busy ones. Offline, its telemetry heartbeat logs an ERROR line.
_PREFECT_TEST_DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}


def pytest_configure(config: pytest.Config) -> None:
    """Test-friendly defaults for Prefect's temporary server (a value already set wins)."""
    for name, value in _PREFECT_TEST_DEFAULTS.items():
        os.environ.setdefault(name, value)


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


@pytest.hookimpl(trylast=True)  # after the session's fixtures (a test harness) are torn down
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop Prefect's temporary server while pytest's output streams are still open.

    A flow run in a test without ``PREFECT_API_URL`` starts a temporary Prefect server,
    which Prefect stops from an ``atexit`` hook, logging "Stopping temporary server" to
    the stream it was set up with: by then pytest has closed that (captured) stream, and
    the session ends with ``--- Logging error ---`` and a traceback; logs and events
    still queued for the API then fail too (``--- Error logging to API ---``). Here, after
    the last test: first send what is queued, then stop the server, quietly.
    """
    server_module = sys.modules.get("prefect.server.api.server")
    if server_module is None:  # no test started Prefect's temporary server
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        with contextlib.suppress(Exception):
            worker.drain_all(timeout=5)
    server_logger = server_module.subprocess_server_logger
    level = server_logger.level
    server_logger.setLevel(logging.WARNING)
    try:
        # Prefect's registry of the temporary servers of this process, by port.
        servers = getattr(server_module.SubprocessASGIServer, "_instances", {})
        for server in list(servers.values()):
            with contextlib.suppress(Exception):
                server.stop()
    finally:
        server_logger.setLevel(level)
