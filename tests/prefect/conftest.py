"""One Prefect test harness for the Prefect-layer tests; credentials on a fresh emulator account."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings
from prefect.testing.utilities import prefect_test_harness

from piktid_prefect.credentials import PiktidCredentials
from piktid_prefect.demo import sample_images


@pytest.fixture(scope="session", autouse=True)
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    storage = tmp_path_factory.mktemp("prefect-results")
    with (
        temporary_settings({PREFECT_LOCAL_STORAGE_PATH: storage}),
        prefect_test_harness(server_startup_timeout=90),
    ):
        yield


@pytest.fixture
def time_scale(piktid_emulator) -> float:  # type: ignore[no-untyped-def]
    return float(piktid_emulator.config.time_scale)


@pytest.fixture
def credentials(piktid_account, time_scale: float) -> PiktidCredentials:  # type: ignore[no-untyped-def]
    """Credentials of a fresh, isolated emulator account, polling at the scaled 3 s."""
    return PiktidCredentials(
        base_url=piktid_account.base_url,
        email=piktid_account.email,
        password=piktid_account.password,
        poll_interval_seconds=3.0 * time_scale * 1.5,
    )


@pytest.fixture
def samples() -> dict[str, Path]:
    return {p.stem: p for p in sample_images()}
