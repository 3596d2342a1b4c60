"""A Prefect server backed by PostgreSQL: the cluster of ``deployments/postgres.sh``.

Every Prefect server that the tests of this folder start keeps its database in a
throwaway PostgreSQL cluster (one per test module), because the server reads
``PREFECT_SERVER_DATABASE_CONNECTION_URL`` from its environment, as a user's would. The
fixtures of ``tests/e2e/conftest.py`` are imported as they are, so the e2e tests run here
unchanged, only on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import glob
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import *  # noqa: F403  (every e2e fixture: its tests run here as they are)
from tests.e2e.conftest import PROJECT_ROOT

POSTGRES_SCRIPT = PROJECT_ROOT / "deployments" / "postgres.sh"
SCRIPT_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class Postgres:
    """A running throwaway cluster: its folder and the Prefect server's connection URL."""

    folder: Path
    url: str

    def query(self, sql: str) -> list[Any]:
        """Rows of ``sql``, read straight from the database (not through Prefect)."""
        import asyncpg

        async def rows() -> list[Any]:
            connection = await asyncpg.connect(self.url.replace("+asyncpg", "", 1))
            try:
                return list(await connection.fetch(sql))
            finally:
                await connection.close()

        return asyncio.run(rows())


def _server_binaries_installed() -> bool:
    return shutil.which("initdb") is not None or bool(glob.glob("/usr/lib/postgresql/*/bin/initdb"))


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    """A fresh cluster and ``prefect`` database for one test module, deleted after it."""
    if not _server_binaries_installed():
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    started = subprocess.run(
        [str(POSTGRES_SCRIPT), "start"],
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_SECONDS,
    )
    assert started.returncode == 0, f"postgres.sh start:\n{started.stderr}"
    values = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
    cluster = Postgres(
        Path(values["PIKTID_POSTGRES_DIR"]), values["PREFECT_SERVER_DATABASE_CONNECTION_URL"]
    )
    try:
        yield cluster
    finally:
        subprocess.run(
            [str(POSTGRES_SCRIPT), "stop", str(cluster.folder)],
            capture_output=True,
            timeout=SCRIPT_TIMEOUT_SECONDS,
        )


@pytest.fixture(scope="module", autouse=True)
def prefect_database_url(postgres: Postgres) -> Iterator[str]:
    """Point every Prefect server started in this module at ``postgres`` (autouse: it is
    set up before the module's server fixtures, which copy this process's environment)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PREFECT_SERVER_DATABASE_CONNECTION_URL", postgres.url)
        yield postgres.url
