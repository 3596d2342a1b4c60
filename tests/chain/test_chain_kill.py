"""A run killed mid-chain (SIGKILL: no cleanup at all) and re-run pays every step once.

The command runs as its own process (its own temporary Prefect server and result
storage under ``PREFECT_HOME``); the emulator's upscales are slow enough that the kill
lands while every variation is delivered and every upscale is paid and in flight. The
re-run takes the variations from Prefect's cache, waits for the upscales the journal
recorded, and pays only for the swaps.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from piktid_prefect.credentials import PiktidCredentials
from piktid_prefect.demo import sample_images
from piktid_prefect.emulator import EmulatorConfig, EmulatorServer
from tests.signals.conftest import COMMAND, command_env

pytestmark = [pytest.mark.e2e, pytest.mark.long]

SAMPLES = {p.stem: str(p) for p in sample_images()}
# 2 persons x 2 keywords = 4 variations, each upscaled x2 then given one identity.
ARGS = ["-k", "Location=Oceania", "-k", "Location=East Asia", "-p", "0", "-p", "1"]
CHAIN = ["--upscale", "2", "--identity", "grace"]
VARIATIONS = 4


@pytest.fixture(scope="module")
def slow_upscales() -> Iterator[EmulatorServer]:
    config = EmulatorConfig(
        time_scale=0.1,
        generation_seconds=20.0,  # 2 real seconds
        mask_warmup_seconds=0.0,
        upscale_seconds=300.0,  # 30 real seconds: the kill lands while they are in flight
        identity_swap_seconds=10.0,
        notification_ttl_seconds=6_000.0,
        seed=0,
    )
    with EmulatorServer(config) as emulator:
        yield emulator


def _start(env: dict[str, str], out: Path) -> subprocess.Popen[str]:
    command = [COMMAND, "generate-person", SAMPLES["group_of_three"], *ARGS, *CHAIN]
    command += ["--stagger", "0.2", "-o", str(out)]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip


def test_sigkill_mid_chain_then_rerun_pays_every_step_once(
    slow_upscales: EmulatorServer, tmp_path: Path
) -> None:
    account = slow_upscales.create_account(credits=100)
    creds = PiktidCredentials(
        base_url=account.base_url, email=account.email, password=account.password
    )
    with creds.get_client() as client:
        client.upload_face(SAMPLES["grace_hopper"], identity_name="grace")
    env = command_env(account, tmp_path / "prefect-home", tmp_path / "journal")
    began = time.monotonic()
    run = _start(env, tmp_path / "out")
    deadline = time.monotonic() + 180
    journal = tmp_path / "journal"

    def upscales_paid_and_journaled() -> bool:
        # Both: a kill between the server's charge and the journal's entry is a lost start
        # answer (not settled for chained steps yet: the stop note), not this test's case.
        charged = slow_upscales.stats(account.email).credits_charged_by_endpoint
        return charged.get("/superid/v2", 0) >= 1 and len(list(journal.glob("*.json"))) >= 4

    while not upscales_paid_and_journaled():
        assert run.poll() is None, run.communicate()[1]
        assert time.monotonic() < deadline, "the upscales were not all started in 180 s"
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=30)
    killed_at = time.monotonic() - began
    charged = slow_upscales.stats(account.email).credits_charged_by_endpoint
    assert charged == {"/edit/generate": VARIATIONS, "/superid/v2": 1.0}
    assert len(list((tmp_path / "journal").glob("*.json"))) == VARIATIONS  # the upscales

    rerun = _start(env, tmp_path / "out")
    stdout, stderr = rerun.communicate(timeout=300)
    rerun_seconds = time.monotonic() - began - killed_at
    print(f"killed after {killed_at:.1f} s; the re-run took {rerun_seconds:.1f} s")
    print(stdout)

    assert rerun.returncode == 0, stderr
    outputs = json.loads((tmp_path / "out" / "manifest.json").read_text())["outputs"]
    assert len(outputs) == VARIATIONS
    steps = [step for output in outputs for step in output["chain"]]
    assert sorted(s["step"] for s in steps) == ["identity grace"] * 4 + ["upscale x2"] * 4
    assert all(Path(s["path"]).is_file() for s in steps)
    charged = slow_upscales.stats(account.email).credits_charged_by_endpoint
    assert charged == {
        "/edit/generate": VARIATIONS,
        "/superid/v2": 1.0,
        "/consistent_identities/generate": VARIATIONS,
    }
    assert "credits: 4 spent by this run" in stdout  # the swaps: nothing else paid again
    assert list((tmp_path / "journal").glob("*.json")) == []
