"""Settings and fixtures for the whole test suite (settings before Prefect is imported)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from piktid_prefect.credentials import PiktidCredentials
    from piktid_prefect.emulator import EmulatorAccount, EmulatorServer

# Prefect's server logs a sqlite "database is locked" error at start-up without this, and
# on a fresh PREFECT_HOME its temporary server needs more than the default 20 s to start
# on busy cores (the same defaults the plugin's `piktid_emulator` fixture gives users).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def pytest_configure(config: object) -> None:
    """Keep the journal of started generations inside the test session's temp area.

    Each pytest-xdist worker gets its own (a worker inherits the controller's variables).
    """
    import tempfile

    if os.environ.get("PYTEST_XDIST_WORKER") or "PIKTID_JOURNAL_DIR" not in os.environ:
        os.environ["PIKTID_JOURNAL_DIR"] = tempfile.mkdtemp(prefix="piktid-journal-")


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    """Which client a test builds: PiktidClient or AsyncPiktidClient (each test runs twice)."""
    return str(request.param)


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One throw-away Prefect server and sqlite database for every suite that runs flows.

    Started once (~10 s) by the first test that needs it. Yields the folder where task
    results are stored.
    """
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    storage = tmp_path_factory.mktemp("prefect-results")
    with (
        temporary_settings({PREFECT_LOCAL_STORAGE_PATH: storage}),
        prefect_test_harness(server_startup_timeout=90),
    ):
        yield storage


@pytest.fixture
def time_scale(piktid_emulator: EmulatorServer) -> float:
    return float(piktid_emulator.config.time_scale)


@pytest.fixture
def credentials(piktid_account: EmulatorAccount, time_scale: float) -> PiktidCredentials:
    """Credentials of a fresh, isolated emulator account, polling at the scaled 3 s."""
    from piktid_prefect.credentials import PiktidCredentials

    return PiktidCredentials(
        base_url=piktid_account.base_url,
        email=piktid_account.email,
        password=piktid_account.password,
        poll_interval_seconds=3.0 * time_scale * 1.5,
    )


@pytest.fixture
def samples() -> dict[str, Path]:
    """The bundled sample photos by stem: astronaut, grace_hopper, group_of_three."""
    from piktid_prefect.demo import sample_images

    return {p.stem: p for p in sample_images()}


@pytest.hookimpl(trylast=True)  # after the session's fixtures (a test harness) are torn down
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop Prefect's temporary server while pytest's output streams are still open.

    A flow run in a test without ``PREFECT_API_URL`` starts a temporary Prefect server,
    which Prefect stops from an ``atexit`` hook, logging "Stopping temporary server" to
    the stream it was set up with: by then pytest has closed that (captured) stream, and
    the session ends with ``--- Logging error ---`` and a traceback; logs and events
    still queued for the API then fail too (``--- Error logging to API ---``). Here, after
    the last test: first send what is queued, then stop the server, quietly. (Our suite
    only: it reads Prefect's registry of temporary servers, which is not public API.)
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
        servers = getattr(server_module.SubprocessASGIServer, "_instances", {})
        for server in list(servers.values()):
            with contextlib.suppress(Exception):
                server.stop()
    finally:
        server_logger.setLevel(level)
