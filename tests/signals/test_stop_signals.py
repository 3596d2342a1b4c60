"""SIGTERM and Ctrl-C stop the command within seconds, whatever is in flight.

Orchestrators stop a process with SIGTERM and kill it 30 s later (Kubernetes); `timeout`
signals the command's whole process group (the temporary Prefect server too); Ctrl-C
sends SIGINT to the group. In every case the command must end well inside the grace
period, with 128 + the signal, leave no child process (the temporary Prefect server) behind,
and keep every paid generation in the journal so the next run collects it for free.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from piktid_prefect.emulator import EmulatorServer

from .conftest import COMMAND, OUTPUTS, CommandRun, command_env, start_command, wait_for_charges

pytestmark = pytest.mark.slow

# Kubernetes' default grace period is 30 s; the issue asks for 20 s at most.
STOP_WITHIN_SECONDS = 20.0


def test_sigterm_stops_the_run_and_the_rerun_collects_the_paid_jobs_for_free(
    slow_emulator: EmulatorServer, tmp_path: Path
) -> None:
    account = slow_emulator.create_account(credits=100)
    env = command_env(account, tmp_path / "prefect-home", tmp_path / "journal")
    run = start_command(env, tmp_path / "out")
    wait_for_charges(slow_emulator, account, OUTPUTS, run)

    code, seconds = run.stop(signal.SIGTERM, group=False)
    stderr = run.process.stderr.read() if run.process.stderr else ""
    print(f"SIGTERM to the process: exit {code} after {seconds:.2f} s")  # pytest -s shows it

    assert code == 128 + signal.SIGTERM, stderr
    assert seconds < STOP_WITHIN_SECONDS
    assert not run.group_alive(), "a child process (the temporary Prefect server) was left"
    assert "Traceback" not in stderr
    assert "SIGTERM: stopping. Generations already paid for stay in the journal" in stderr
    assert run.flow_run_states() == ["CANCELLED"]
    assert len(list((tmp_path / "journal").glob("*.json"))) == OUTPUTS

    rerun = start_command(env, tmp_path / "out")
    _, rerun_stderr = rerun.process.communicate(timeout=180)
    assert rerun.process.returncode == 0, rerun_stderr
    outputs = json.loads((tmp_path / "out" / "manifest.json").read_text())["outputs"]
    assert len(outputs) == OUTPUTS
    assert slow_emulator.stats(account.email).credits_charged == OUTPUTS  # 0 paid twice
    assert list((tmp_path / "journal").glob("*.json")) == []


@pytest.mark.parametrize(
    ("sig", "what"),
    [
        (signal.SIGTERM, "timeout"),
        # Ctrl-C to the group runs in the longer job (`pytest -m long`): CI time.
        pytest.param(signal.SIGINT, "Ctrl-C", marks=pytest.mark.long),
    ],
    ids=["sigterm-to-the-group", "sigint-to-the-group"],
)
def test_a_signal_to_the_whole_group_ends_the_run_although_its_server_is_gone(
    slow_emulator: EmulatorServer, tmp_path: Path, sig: signal.Signals, what: str
) -> None:
    """The temporary server dies with the same signal: reporting to it must not hang."""
    account = slow_emulator.create_account(credits=100)
    env = command_env(account, tmp_path / "prefect-home", tmp_path / "journal")
    run = start_command(env, tmp_path / "out")
    wait_for_charges(slow_emulator, account, OUTPUTS, run)

    code, seconds = run.stop(sig, group=True)
    print(f"{sig.name} to the group ({what}): exit {code} after {seconds:.2f} s")

    assert code == 128 + sig, f"{what}: {run.process.stderr.read() if run.process.stderr else ''}"
    assert seconds < STOP_WITHIN_SECONDS
    assert not run.group_alive()
    assert len(list((tmp_path / "journal").glob("*.json"))) == OUTPUTS


@pytest.mark.long
def test_the_demo_stopped_does_not_promise_a_free_rerun(tmp_path: Path) -> None:
    """The demo's emulator lives in the command: a re-run starts a new one, so the stop
    line must not promise that the paid jobs are collected for free."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIKTID_", "PREFECT_"))}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect-home"), "HOME": str(tmp_path)}
    process = subprocess.Popen(
        [COMMAND, "demo", "-o", str(tmp_path / "out")],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    run = CommandRun(process, tmp_path / "out", tmp_path / "prefect-home")
    deadline = time.monotonic() + 120
    journal = tmp_path / ".piktid-prefect" / "journal"
    while not list(journal.glob("*.json")):  # paid jobs in flight
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the demo never started a generation"
        time.sleep(0.1)
    code, _ = run.stop(signal.SIGTERM, group=False)
    stderr = process.stderr.read() if process.stderr else ""
    assert code == 128 + signal.SIGTERM, stderr
    assert "SIGTERM: stopping. The demo's emulator stops with it" in stderr
    assert "run the same command again" not in stderr
