"""Run the ``piktid-prefect`` command as a process and stop it the way orchestrators do."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from piktid_prefect.demo import sample_images
from piktid_prefect.emulator import EmulatorAccount, EmulatorConfig, EmulatorServer

COMMAND = str(Path(sys.executable).with_name("piktid-prefect"))
GROUP_PHOTO = str(next(p for p in sample_images() if p.stem == "group_of_three"))
# 3 persons x 2 keywords; each generation takes 25 real seconds (250 API-s at 0.1).
KEYWORDS = ["-k", "Location=Oceania", "-k", "Location=East Asia"]
OUTPUTS = 6
TIME_SCALE = 0.1
GENERATION_API_SECONDS = 250.0


@pytest.fixture(scope="module")
def slow_emulator() -> Iterator[EmulatorServer]:
    """An emulator whose generations stay in flight long enough to stop a run mid-way."""
    config = EmulatorConfig(
        time_scale=TIME_SCALE,
        generation_seconds=GENERATION_API_SECONDS,
        mask_warmup_seconds=0.0,
        notification_ttl_seconds=6_000.0,
        seed=0,
    )
    with EmulatorServer(config) as emulator:
        yield emulator


@dataclass
class CommandRun:
    """One ``piktid-prefect generate-person`` process and where it writes."""

    process: subprocess.Popen[str]
    out: Path
    home: Path

    def stop(self, sig: signal.Signals, *, group: bool) -> tuple[int, float]:
        """Send ``sig`` (to the process, or its whole group like ``timeout``/Ctrl-C).

        SIGKILL follows after a 30 s grace period, as Kubernetes does. Returns the exit
        status and the seconds the process took to end.
        """
        sent = time.monotonic()
        if group:
            os.killpg(self.process.pid, sig)
        else:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        return code, time.monotonic() - sent

    def group_alive(self) -> bool:
        """Whether any process of the command's process group (its children) still runs."""
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def flow_run_states(self) -> list[str]:
        """The flow runs' state types, read from the temporary server's sqlite database."""
        with sqlite3.connect(self.home / "prefect.db") as db:
            return [row[0] for row in db.execute("SELECT state_type FROM flow_run")]


def command_env(account: EmulatorAccount, home: Path, journal: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIKTID_", "PREFECT_"))}
    return {
        **env,
        "PIKTID_BASE_URL": account.base_url,
        "PIKTID_EMAIL": account.email,
        "PIKTID_PASSWORD": account.password,
        "PIKTID_JOURNAL_DIR": str(journal),
        "PREFECT_HOME": str(home),
    }


def start_command(env: dict[str, str], out: Path) -> CommandRun:
    """Start the command in its own process group, SIGINT at its default.

    A background job of a non-interactive shell starts with SIGINT ignored; a test that
    inherited that would prove nothing about Ctrl-C.
    """
    process = subprocess.Popen(
        [COMMAND, "generate-person", GROUP_PHOTO, *KEYWORDS, "--stagger", "0.2", "-o", str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    return CommandRun(process, out, Path(env["PREFECT_HOME"]))


def wait_for_charges(
    emulator: EmulatorServer, account: EmulatorAccount, count: int, run: CommandRun
) -> None:
    """Block until the account was charged ``count`` credits (every output in flight)."""
    deadline = time.monotonic() + 120
    while emulator.stats(account.email).credits_charged < count:
        if run.process.poll() is not None:
            pytest.fail(f"the command ended early:\n{run.process.communicate()[1]}")
        if time.monotonic() > deadline:
            pytest.fail("the generations were not all started within 120 s")
        time.sleep(0.2)
