"""`piktid-prefect emulator` serves the wire format; the package registers with Prefect."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.skipif(shutil.which("piktid-prefect") is None, reason="console script not installed")
def test_emulator_command_serves_login_and_refuses_anonymous_calls() -> None:
    port = free_port()
    server = subprocess.Popen(
        ["piktid-prefect", "emulator", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}/api"
        deadline = time.monotonic() + 60
        while True:
            try:
                anonymous = httpx.get(f"{base}/me", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "emulator did not start in 60 s"
                time.sleep(0.2)
        assert anonymous.status_code == 401
        login = httpx.post(f"{base}/tokens", auth=("demo@piktid.local", "demo-password"))
        assert login.status_code == 200 and login.json()["access_token"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_prefect_collections_entry_point_registers_the_block() -> None:
    code = (
        "from prefect.plugins import load_prefect_collections\n"
        "load_prefect_collections()\n"
        "from prefect.blocks.core import Block\n"
        "print(Block.get_block_class_from_key('piktid-credentials').__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "PiktidCredentials", out.stderr
