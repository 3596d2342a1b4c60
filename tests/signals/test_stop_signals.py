"""SIGTERM and Ctrl-C stop the command within seconds, whatever is in flight.

Orchestrators stop a process with SIGTERM and kill it 30 s later (Kubernetes); `timeout`
signals the command's whole process group (the temporary Prefect server too); Ctrl-C
sends SIGINT to the group. In every case the command must end well inside the grace
period, with 128 + the signal, leave no child process (the temporary Prefect server) behind,
and keep every paid generation in the journal so the next run collects it for free.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from piktid_prefect.emulator import EmulatorServer

from .conftest import OUTPUTS, command_env, start_command, wait_for_charges

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
