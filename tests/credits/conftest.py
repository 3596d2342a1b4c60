"""The credit tests run flows on the suite's shared Prefect harness, against the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from piktid_prefect.credentials import PiktidCredentials


@pytest.fixture(autouse=True)
def _on_the_prefect_harness(prefect_harness: Path) -> None:
    """Every test here runs flows."""


@pytest.fixture
def account_with(piktid_emulator, time_scale):  # type: ignore[no-untyped-def]
    """``account_with(credits)``: (emulator account, its credentials) with that balance."""

    def make(credits: int):  # type: ignore[no-untyped-def]
        account = piktid_emulator.create_account(credits=credits)
        creds = PiktidCredentials(
            base_url=account.base_url,
            email=account.email,
            password=account.password,
            poll_interval_seconds=3.0 * time_scale * 1.5,
        )
        return account, creds

    return make
