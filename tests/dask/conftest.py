"""A local Dask cluster of two worker processes (flows run on the shared Prefect harness)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed", reason="needs the `dask` extra")

DASK_WORKERS = 2


@pytest.fixture(autouse=True)
def _on_the_prefect_harness(prefect_harness: Path) -> None:
    """The flows here run on the suite's shared Prefect harness."""


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
