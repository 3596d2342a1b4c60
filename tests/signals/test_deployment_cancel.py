"""A deployment run cancelled under a process worker ends Cancelled within 30 s, and
a re-run pays nothing for the generations that were in flight.

Reuses the real ``prefect server`` + process worker of ``tests/e2e`` (its fixtures),
on an emulator whose generations stay in flight long enough to cancel one mid-way.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings

from piktid_prefect.emulator import EmulatorConfig, EmulatorServer
from tests.e2e.conftest import CREDENTIALS_BLOCK, PrefectStack, prefect_stack  # noqa: F401

from .conftest import GROUP_PHOTO, OUTPUTS, TIME_SCALE

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.long]

CANCELLED_WITHIN_SECONDS = 30.0


@pytest.fixture(scope="module")
def piktid_emulator() -> Iterator[EmulatorServer]:
    """The e2e stack's emulator, with 60 s generations (the plugin's runs 100x faster).

    Longer than the worker's 30 s grace: a run that waited for its generations before
    ending would only end when the worker kills it.
    """
    config = EmulatorConfig(
        time_scale=TIME_SCALE,
        generation_seconds=600.0,
        mask_warmup_seconds=0.0,
        notification_ttl_seconds=6_000.0,
        seed=0,
    )
    with EmulatorServer(config) as emulator:
        yield emulator


def _wait(predicate, seconds: float, what: str) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > seconds:
            pytest.fail(f"{what} not within {seconds:g} s")
        time.sleep(0.25)
    return time.monotonic() - started


def test_cancelled_deployment_run_ends_cancelled_and_the_rerun_pays_nothing_more(
    prefect_stack: PrefectStack,  # noqa: F811
    tmp_path: Path,
) -> None:
    emulator = prefect_stack.emulator
    account = prefect_stack.account
    parameters = {
        "image": GROUP_PHOTO,
        "keywords": [{"Location": "Oceania"}, {"Location": "East Asia"}],
        "credentials": CREDENTIALS_BLOCK,
        "out_dir": str(tmp_path / "out"),
        "stagger_seconds": 0.2,
        "timeout_seconds": 300.0,
    }
    with (
        temporary_settings({PREFECT_API_URL: prefect_stack.api_url}),
        get_client(sync_client=True) as client,
    ):
        deployment = client.read_deployment_by_name("piktid-generate-people/piktid-people")
        run = client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
        _wait(
            lambda: emulator.stats(account.email).credits_charged >= OUTPUTS,
            120,
            "every generation started",
        )

        prefect_stack.cli("flow-run", "cancel", str(run.id))

        def final() -> bool:
            state = client.read_flow_run(run.id).state
            return state is not None and state.is_final()

        seconds = _wait(final, 60, "a final state")
        state = client.read_flow_run(run.id).state
        assert state is not None and state.is_cancelled(), state
        assert seconds < CANCELLED_WITHIN_SECONDS
        charged = emulator.stats(account.email).credits_charged

        again = client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
        _wait(lambda: client.read_flow_run(again.id).state.is_final(), 180, "the re-run")
        rerun_state = client.read_flow_run(again.id).state
    assert rerun_state is not None and rerun_state.is_completed(), rerun_state
    assert charged == OUTPUTS
    assert emulator.stats(account.email).credits_charged == OUTPUTS  # none paid twice
    print(f"cancelled in {seconds:.1f} s")
