"""Pytest fixtures that run the PiktID emulator (registered through the ``pytest11`` entry point).

Installing ``piktid-prefect`` registers this plugin in every pytest session of the
environment, so it is built to cost nothing there: loading it imports only pytest, and
it sets no variable and starts nothing until a test asks for one of its fixtures. The
fixtures need the ``[emulator]`` extra; without it they fail with one line saying so.
(To load the plugin only where you ask for it, run pytest with ``-p no:piktid_emulator``
by default and ``-p piktid_prefect.pytest_plugin`` where you want it.)

- ``piktid_emulator`` (session scope): an :class:`~piktid_prefect.emulator.EmulatorServer` on
  a free loopback port, with ``time_scale=0.01`` (an 8 s generation takes 80 ms; the 3 s
  poll interval 30 ms). Use it to inspect ``stats()``, inject faults with ``set_faults()``,
  or jump the virtual clock with ``advance()``. While it runs, Prefect's temporary server
  gets test-friendly settings (see ``PREFECT_TEST_DEFAULTS``) unless you set them; they
  are taken back when the session ends.
- ``piktid_account`` (function scope): a fresh, isolated account with 10 000 credits,
  logged in (``email``, ``password``, ``access_token``, ``base_url``). Faults are reset to
  none before each test.
- ``piktid_prefect_harness`` (session scope): Prefect's own ``prefect_test_harness()``, one
  throw-away Prefect server and database for every flow run of the session, stopped at
  its end while pytest's output is still open (a flow run without it starts Prefect's
  temporary server, which stops at exit, after pytest closed its streams: the session
  then ends with ``--- Logging error ---``).

Example, testing your own flow against the emulator:

```python
import httpx

def test_my_upload(piktid_emulator, piktid_account):  # add piktid_prefect_harness for flows
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

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from piktid_prefect.emulator.server import EmulatorAccount, EmulatorServer

__all__ = ["PREFECT_TEST_DEFAULTS", "piktid_account", "piktid_emulator", "piktid_prefect_harness"]

FAST_TIME_SCALE = 0.01
# A flow run in a test starts Prefect's temporary server; on a fresh PREFECT_HOME its
# database migrations alone took 18 s on 2 idle cores, more than Prefect's default 20 s
# startup timeout on busy ones. Offline, its telemetry heartbeat logs an ERROR line.
PREFECT_TEST_DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}
_MISSING_EXTRA = (
    "the piktid_emulator fixture needs the emulator's extra: pip install 'piktid-prefect[emulator]'"
)


@contextmanager
def environment_defaults(defaults: Mapping[str, str]) -> Iterator[None]:
    """Set each variable not already set; on exit, remove the ones this set."""
    added = [name for name in defaults if name not in os.environ]
    for name in added:
        os.environ[name] = defaults[name]
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


@pytest.fixture(scope="session")
def piktid_emulator() -> Iterator[EmulatorServer]:
    """A PiktID emulator on loopback for the whole session, 100x faster than real time."""
    try:
        from piktid_prefect.emulator.config import EmulatorConfig
        from piktid_prefect.emulator.server import EmulatorServer
    except ImportError as exc:
        pytest.fail(f"{_MISSING_EXTRA} ({exc})", pytrace=False)
    with (
        environment_defaults(PREFECT_TEST_DEFAULTS),
        EmulatorServer(EmulatorConfig(time_scale=FAST_TIME_SCALE, seed=0)) as emulator,
    ):
        yield emulator


@pytest.fixture
def piktid_account(piktid_emulator: EmulatorServer) -> EmulatorAccount:
    """A fresh, logged-in emulator account (10 000 credits) with no faults injected."""
    from piktid_prefect.emulator.config import FaultConfig

    piktid_emulator.set_faults(FaultConfig())
    return piktid_emulator.create_account(credits=10_000)


@pytest.fixture(scope="session")
def piktid_prefect_harness() -> Iterator[None]:
    """Prefect's test harness for the session: flow runs go to a throw-away server."""
    from prefect.testing.utilities import prefect_test_harness

    with (
        environment_defaults(PREFECT_TEST_DEFAULTS),
        prefect_test_harness(server_startup_timeout=120),
    ):
        yield
