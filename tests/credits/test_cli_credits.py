"""The credit options and the plan command of piktid-prefect."""

from __future__ import annotations

import shutil
import subprocess
import time

import httpx
import pytest
from typer.testing import CliRunner

from piktid_prefect.cli import app
from tests.prefect.helpers import requests_to
from tests.test_emulator_command import free_port

runner = CliRunner()


def _env(account) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        "PIKTID_BASE_URL": account.base_url,
        "PIKTID_EMAIL": account.email,
        "PIKTID_PASSWORD": account.password,
        "PIKTID_ACCESS_TOKEN": "",
    }


def test_summary_shows_the_spend_and_max_credits_refuses_before_any_start(
    account_with, piktid_emulator, samples, tmp_path, time_scale
) -> None:
    account, _ = account_with(3)
    common = [str(samples["astronaut"]), "--out", str(tmp_path), "--timeout", str(600 * time_scale)]

    cap = ["--max-credits", "1"]
    paid = runner.invoke(
        app, ["edit-background", *common, "-k", "seasonal=Winter"], env=_env(account)
    )
    capped = runner.invoke(
        app,
        ["edit-background", *common, "-k", "florals=Roses", "-k", "seasonal=Summer", *cap],
        env=_env(account),
    )

    assert paid.exit_code == 0, paid.output
    assert "credits: 1 spent by this run, balance 3 -> 2" in paid.output
    assert capped.exit_code == 1
    assert "needs 2 credits, max_credits is 1" in capped.output
    assert requests_to(piktid_emulator.stats(account.email), "/edit/background") == 1


def test_plan_command_prints_each_output_and_the_cost(
    account_with, piktid_emulator, samples, tmp_path
) -> None:
    account, _ = account_with(10)

    out = ["--out", str(tmp_path)]
    result = runner.invoke(
        app,
        ["plan", str(samples["astronaut"]), "-b", "seasonal=Winter", "-b", "florals=Roses", *out],
        env=_env(account),
    )

    assert result.exit_code == 0, result.output
    assert "seasonal=Winter" in result.output and "florals=Roses" in result.output
    assert "2 outputs: 2 to pay; needs 2 credits, the account has 10" in result.output
    assert requests_to(piktid_emulator.stats(account.email), "/edit/target") == 0


@pytest.mark.skipif(shutil.which("piktid-prefect") is None, reason="console script not installed")
def test_emulator_command_takes_demo_credits() -> None:
    port = free_port()
    server = subprocess.Popen(
        ["piktid-prefect", "emulator", "--port", str(port), "--demo-credits", "250"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}/api"
        deadline = time.monotonic() + 60
        while True:
            try:
                login = httpx.post(f"{base}/tokens", auth=("demo@piktid.local", "demo-password"))
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        token = login.json()["access_token"]
        me = httpx.get(f"{base}/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["credits"] == 250
    finally:
        server.terminate()
        server.wait(timeout=30)
