"""The bucket inbox end to end (``tests/e2e/test_bucket_inbox.py``: a scheduled inbox on an
S3 bucket, two workers, one killed, every output once and paid once), on a Prefect server
whose database is PostgreSQL."""

from __future__ import annotations

import pytest

from tests.e2e import test_bucket_inbox as bucket_inbox
from tests.postgres.conftest import Postgres

pytestmark = [pytest.mark.postgres, pytest.mark.e2e, pytest.mark.long]

# The module's own fixtures (its emulator, S3 server and Prefect stack) and its tests,
# collected again here, where this folder's autouse fixture points every Prefect server
# the module starts at PostgreSQL.
globals().update(
    {
        name: value
        for name, value in vars(bucket_inbox).items()
        if name.startswith("test_") or name in ("emulator", "s3", "stack")
    }
)


def test_the_bucket_inbox_server_keeps_its_runs_in_postgresql(
    stack: bucket_inbox.PrefectStack, postgres: Postgres
) -> None:
    assert postgres.query("SELECT 1 AS ok")[0]["ok"] == 1
    assert not list(stack.home.glob("*.db"))  # no sqlite file of its own
