"""Settings and fixtures for the whole test suite (settings before Prefect is imported)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from piktid_prefect.credentials import PiktidCredentials
    from piktid_prefect.emulator import EmulatorAccount, EmulatorServer

# Prefect's server logs a sqlite "database is locked" error at start-up without this.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def pytest_configure(config: object) -> None:
    """Keep the journal of started generations inside the test session's temp area."""
    import tempfile

    os.environ.setdefault("PIKTID_JOURNAL_DIR", tempfile.mkdtemp(prefix="piktid-journal-"))


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
