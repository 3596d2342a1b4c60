"""The deployment e2e suite (``tests/e2e/test_deployments.py``: ``prefect deploy``, a
process worker, the schedules, the account-wide cap), every test of it, on a Prefect
server whose database is PostgreSQL."""

from __future__ import annotations

import pytest

from tests.e2e import test_deployments as e2e_deployments
from tests.e2e.conftest import PrefectStack
from tests.postgres.conftest import Postgres

pytestmark = [pytest.mark.postgres, pytest.mark.e2e, pytest.mark.long]

# Collected again in this module, where the server fixture runs on PostgreSQL; new tests
# of the e2e suite join automatically.
globals().update(
    {name: test for name, test in vars(e2e_deployments).items() if name.startswith("test_")}
)


def test_the_server_keeps_its_deployments_in_postgresql(
    prefect_stack: PrefectStack, postgres: Postgres
) -> None:
    rows = postgres.query("SELECT name FROM deployment")
    assert {row["name"] for row in rows} >= {"piktid-inbox", "piktid-batch", "piktid-people"}
    # ... and not in a sqlite file of its own.
    assert not list(prefect_stack.home.glob("*.db"))
