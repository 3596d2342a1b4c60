"""A real ``prefect server`` on loopback, as a subprocess with its own PREFECT_HOME.

Every subprocess runs in its own process group and is killed with it (flow-run children
of a worker included), whatever the tests did.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))
SERVER_START_TIMEOUT_SECONDS = 90.0


@dataclass
class PrefectServer:
    """A running server: its API and UI addresses, and the environment that targets it."""

    api_url: str
    ui_url: str
    env: dict[str, str]
    home: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_process(
    args: list[str], env: dict[str, str], log: Path, cwd: Path = PROJECT_ROOT
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            args,
            cwd=cwd,
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


def wait_healthy(api_url: str, server: subprocess.Popen[bytes], log: Path) -> None:
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


@contextmanager
def prefect_server(
    home: Path, port: int | None = None, **extra_env: str
) -> Iterator[PrefectServer]:
    """``prefect server start`` on loopback (a free port by default), ``home`` as PREFECT_HOME."""
    port = port or free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        **extra_env,
    }
    env.pop("PREFECT_PROFILES_PATH", None)
    log = home / "server.log"
    server = start_process(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)], env, log
    )
    try:
        wait_healthy(api_url, server, log)
        yield PrefectServer(api_url, f"http://127.0.0.1:{port}", env, home)
    finally:
        stop_process(server)
