"""The chain tests run on the suite's shared Prefect harness."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _on_the_prefect_harness(prefect_harness: Path) -> None:
    """Every test here runs flows or tasks through the Prefect API."""
