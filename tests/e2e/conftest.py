"""A real ``prefect server`` on loopback, the deployments of ``deployments/prefect.yaml``
and a ``process`` worker, all as subprocesses with their own PREFECT_HOME.

Every subprocess runs in its own process group and is killed with it (flow-run children
of the worker included), whatever the tests did.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from piktid_prefect.emulator import EmulatorAccount, EmulatorServer

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))
SERVER_START_TIMEOUT_SECONDS = 90.0
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            args,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed with its children
        )


def stop_process(process: subprocess.Popen[bytes]) -> None:
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            # The group may outlive its leader (flow runs of the worker): kill it too.
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_healthy(api_url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"prefect server exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"prefect server not healthy in {SERVER_START_TIMEOUT_SECONDS:g} s")


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
