"""The reliability suite: a Prefect harness of its own, fresh emulator accounts, helpers.

The harness is the same as the Prefect-layer suite's; its sqlite database file is what
the secret-hygiene test reads raw.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings
from prefect.testing.utilities import prefect_test_harness

from piktid_prefect.credentials import PiktidCredentials
from piktid_prefect.demo import sample_images
from piktid_prefect.emulator import EmulatorServer


@pytest.fixture(scope="session", autouse=True)
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A throw-away Prefect server and database; yields the result storage folder."""
    storage = tmp_path_factory.mktemp("reliability-results")
    with (
        temporary_settings({PREFECT_LOCAL_STORAGE_PATH: storage}),
        prefect_test_harness(server_startup_timeout=90),
    ):
        yield storage


@pytest.fixture
def time_scale(piktid_emulator: EmulatorServer) -> float:
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


def folder_snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder``: content hash and modification time (ns)."""
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
