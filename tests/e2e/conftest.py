"""A real ``prefect server`` on loopback, the deployments of ``deployments/prefect.yaml``
and a ``process`` worker, all as subprocesses with their own PREFECT_HOME.

Every subprocess runs in its own process group and is killed with it (flow-run children
of the worker included), whatever the tests did.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from piktid_prefect.emulator import EmulatorAccount, EmulatorServer
from tests.helpers.prefect_server import (
    PREFECT,
    PROJECT_ROOT,
    start_process,
    stop_process,
)
from tests.helpers.prefect_server import free_port as _free_port
from tests.helpers.prefect_server import wait_healthy as _wait_healthy

CLI_TIMEOUT_SECONDS = 120.0
CREDENTIALS_BLOCK = "e2e-piktid"


@dataclass
class PrefectStack:
    """The running server and worker, and how to reach them."""

    api_url: str
    env: dict[str, str]
    home: Path
    account: EmulatorAccount
    emulator: EmulatorServer

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``prefect ARGS`` against the server, from the project root; fail on error."""
        done = subprocess.run(
            [PREFECT, "--no-prompt", *args],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_SECONDS,
        )
        assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done


@pytest.fixture(scope="module")
def prefect_stack(
    tmp_path_factory: pytest.TempPathFactory, piktid_emulator: EmulatorServer
) -> Iterator[PrefectStack]:
    """Server + block + work pool + ``prefect deploy --all`` + a worker, torn down after."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # Only the runs the tests trigger: the 15-minute schedule must not add its own.
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "1",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    env.pop("PREFECT_PROFILES_PATH", None)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        server_log = home / "server.log"
        processes.append(
            start_process(
                [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                env,
                server_log,
            )
        )
        _wait_healthy(api_url, processes[0], server_log)
        account = piktid_emulator.create_account(credits=1_000)
        stack = PrefectStack(api_url, env, home, account, piktid_emulator)
        stack.cli("block", "register", "-m", "piktid_prefect.credentials")
        save_credentials_block(stack, account, CREDENTIALS_BLOCK)
        stack.cli("work-pool", "create", "piktid", "--type", "process")
        stack.cli("deploy", "--all", "--prefect-file", "deployments/prefect.yaml")
        processes.append(
            start_process(
                [PREFECT, "worker", "start", "--pool", "piktid"], env, home / "worker.log"
            )
        )
        yield stack
    finally:
        for process in reversed(processes):
            stop_process(process)


def save_credentials_block(stack: PrefectStack, account: EmulatorAccount, name: str) -> None:
    """Save a PiktidCredentials block for ``account`` on the e2e server.

    In a subprocess: this test process may already be bound to another Prefect API (the
    session's test harness), and the block must land on the e2e server.
    """
    scale = float(stack.emulator.config.time_scale)
    script = (
        "import os\n"
        "from piktid_prefect.credentials import PiktidCredentials\n"
        "PiktidCredentials(base_url=os.environ['PIKTID_BASE_URL'],"
        " email=os.environ['PIKTID_EMAIL'], password=os.environ['PIKTID_PASSWORD'],"
        f" poll_interval_seconds={3.0 * scale * 1.5!r}).save({name!r})\n"
    )
    env = {
        **stack.env,
        "PIKTID_BASE_URL": account.base_url,
        "PIKTID_EMAIL": account.email,
        "PIKTID_PASSWORD": account.password,
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
    )
    assert done.returncode == 0, done.stderr
