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

    def cli(self, *args: str, cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess[str]:
        """Run ``prefect ARGS`` against the server (from the project root); fail on error."""
        done = subprocess.run(
            [PREFECT, "--no-prompt", *args],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_SECONDS,
        )
        assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done


def prefect_env(home: Path, api_url: str, *, scheduler: bool) -> dict[str, str]:
    """The environment of every subprocess talking to one e2e server."""
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # sqlite serialises writes: on 2 cores shared with other jobs, the default 10 s
        # wait for the lock ran out and the server answered 503 to a deployment's apply.
        "PREFECT_SERVER_DATABASE_TIMEOUT": "60",
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": str(scheduler).lower(),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "1",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    env.pop("PREFECT_PROFILES_PATH", None)
    return env


def start_server(
    home: Path, piktid_emulator: EmulatorServer, *, scheduler: bool
) -> tuple[PrefectStack, subprocess.Popen[bytes]]:
    """A healthy ``prefect server`` on a free port, with a funded emulator account."""
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = prefect_env(home, api_url, scheduler=scheduler)
    server_log = home / "server.log"
    server = start_process(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)], env, server_log
    )
    try:
        _wait_healthy(api_url, server, server_log)
    except BaseException:
        stop_process(server)
        raise
    account = piktid_emulator.create_account(credits=1_000)
    return PrefectStack(api_url, env, home, account, piktid_emulator), server


@pytest.fixture(scope="module")
def prefect_stack(
    tmp_path_factory: pytest.TempPathFactory, piktid_emulator: EmulatorServer
) -> Iterator[PrefectStack]:
    """Server + block + work pool + ``prefect deploy --all`` + a worker, torn down after.

    One per module: with pytest-xdist the modules run on different workers at once.
    """
    home = tmp_path_factory.mktemp("prefect-home")
    # Only the runs the tests trigger: the 15-minute schedule must not add its own.
    stack, server = start_server(home, piktid_emulator, scheduler=False)
    processes: list[subprocess.Popen[bytes]] = [server]
    try:
        stack.cli("block", "register", "-m", "piktid_prefect.credentials")
        save_credentials_block(stack, stack.account, CREDENTIALS_BLOCK)
        stack.cli("work-pool", "create", "piktid", "--type", "process")
        stack.cli("deploy", "--all", "--prefect-file", "deployments/prefect.yaml")
        processes.append(
            start_process(
                [PREFECT, "worker", "start", "--pool", "piktid"], stack.env, home / "worker.log"
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
