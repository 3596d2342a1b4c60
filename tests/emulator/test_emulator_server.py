"""Ways to start the emulator, its fixtures, and its statistics."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx

import piktid_prefect.emulator as emulator_package
from piktid_prefect.emulator import (
    EmulatorAccount,
    EmulatorConfig,
    EmulatorServer,
    FaultConfig,
)

from .conftest import Api


def test_public_names() -> None:
    assert {
        "EmulatorConfig",
        "FaultConfig",
        "EmulatorServer",
        "EmulatorAccount",
        "EmulatorStats",
        "serve",
    } <= set(emulator_package.__all__)
    for name in emulator_package.__all__:
        assert getattr(emulator_package, name)


def test_fixture_accounts_are_fresh_and_fault_free(
    piktid_emulator: EmulatorServer, piktid_account: EmulatorAccount
) -> None:
    assert piktid_emulator.base_url == f"http://127.0.0.1:{piktid_emulator.port}/api"
    assert piktid_account.base_url == piktid_emulator.base_url
    assert piktid_emulator.config.faults == FaultConfig()
    me = httpx.get(
        f"{piktid_account.base_url}/me",
        headers={"Authorization": f"Bearer {piktid_account.access_token}"},
    ).json()
    assert me["email"] == piktid_account.email and me["credits"] == 10_000


def test_stats_count_requests_per_endpoint_and_account(api: Api, other_api: Api) -> None:
    api.generate(api.upload_id(), seed=1)
    api.http.get("/me")
    other_api.http.get("/me")
    assert len(api.wait_for(1)) == 1
    mine = api.emulator.stats(api.account.email)
    assert mine.requests["POST /edit/target"] == 1
    assert mine.requests["GET /me"] == 1
    assert mine.requests_by_account == {api.account.email: mine.requests}
    assert mine.credits_charged == 1
    assert mine.notifications_created == 1
    everyone = api.emulator.stats()
    assert everyone.requests["GET /me"] >= 2
    assert other_api.account.email in everyone.requests_by_account


def test_an_emulator_server_can_run_alongside_the_session_one() -> None:
    with EmulatorServer(EmulatorConfig(time_scale=0.01, generation_seconds=1)) as emulator:
        account = emulator.create_account(credits=3)
        assert account.base_url == emulator.base_url
        response = httpx.get(
            f"{emulator.base_url}/me", headers={"Authorization": f"Bearer {account.access_token}"}
        )
        assert response.json()["credits"] == 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_python_dash_m_starts_a_server_that_answers() -> None:
    port = _free_port()
    command = [sys.executable, "-m", "piktid_prefect.emulator", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--time-scale", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}/api"
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.post(f"{base}/tokens", auth=("demo@piktid.local", "demo-password"))
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert response.status_code == 200
        assert "access_token" in response.json()
    finally:
        process.terminate()
        process.wait(timeout=10)
