"""A Prefect test harness and a local Dask cluster of two worker processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings
from prefect.testing.utilities import prefect_test_harness

distributed = pytest.importorskip("distributed", reason="needs the `dask` extra")

DASK_WORKERS = 2


@pytest.fixture(scope="module", autouse=True)
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    storage = tmp_path_factory.mktemp("prefect-results")
    with (
        temporary_settings({PREFECT_LOCAL_STORAGE_PATH: storage}),
        prefect_test_harness(server_startup_timeout=90),
    ):
        yield


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[distributed.LocalCluster]:
    """Two worker *processes* (not threads): each has its own memory, pollers and gates.

    Several threads each, because a generation task blocks while it waits for its
    notification.
    """
    with distributed.LocalCluster(
        n_workers=DASK_WORKERS,
        processes=True,
        threads_per_worker=4,
        dashboard_address=None,
        host="127.0.0.1",
    ) as cluster:
        yield cluster
