"""Credit safety across machines: two ``process`` workers that share nothing but the
Prefect server (on PostgreSQL) and a storage block. One dies mid-batch; the re-run on the
other pays for nothing twice.

Each "machine" has its own ``HOME`` and ``PREFECT_HOME`` (so its own default result folder
and local journal) and its own output folder. What they share is what users share:
the server, and the block named by ``PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK`` (here a
``LocalFileSystem`` block on a folder both can reach, as an NFS mount would be).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from piktid_prefect.demo import sample_images
from piktid_prefect.emulator import EmulatorConfig, EmulatorServer
from piktid_prefect.runtime.journal import JOURNAL_PREFIX
from tests.e2e.conftest import (
    CLI_TIMEOUT_SECONDS,
    PREFECT,
    PrefectStack,
    _free_port,
    _wait_healthy,
    save_credentials_block,
    start_process,
    stop_process,
)
from tests.e2e.test_deployments import api, trigger, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.e2e, pytest.mark.long]

# Emulator clock: 1 API-second = 0.25 real seconds. Each person's first generation starts
# at once and is due 8 API-s later; its two follow-ups start STAGGER API-s after it and
# are due 8 API-s after that. So a kill just after the follow-ups started finds the
# firsts delivered (in the result cache) and the follow-ups paid but in flight (in the
# journal), with 2 real seconds to spare.
TIME_SCALE = 0.25
STAGGER_API_SECONDS = 30.0
WAIT_SECONDS = 120.0  # real seconds; the re-run must start within it to reuse a paid job
KILL_DEADLINE_SECONDS = 120.0
SHARED_BLOCK = "piktid-shared"
LOCATIONS = [{"Location": "Oceania"}, {"Location": "East Asia"}, {"Location": "Africa"}]


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    config = EmulatorConfig(
        time_scale=TIME_SCALE, seed=0, generation_seconds=8.0, mask_warmup_seconds=0.0
    )
    with EmulatorServer(config) as server:
        yield server


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorServer
) -> Iterator[PrefectStack]:
    """A Prefect server (database from the environment: PostgreSQL), the shared block, a
    credentials block, a work pool and the deployments; no worker."""
    control = tmp_path_factory.mktemp("control")
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "HOME": str(control),
        "PREFECT_HOME": str(control / ".prefect"),
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
    }
    env.pop("PREFECT_PROFILES_PATH", None)
    log = control / "server.log"
    process = start_process(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)], env, log
    )
    try:
        _wait_healthy(api_url, process, log)
        account = emulator.create_account(credits=100)
        stack = PrefectStack(api_url, env, control, account, emulator)
        stack.cli("block", "register", "-m", "piktid_prefect.credentials")
        save_credentials_block(stack, account, "piktid")
        stack.cli("work-pool", "create", "piktid", "--type", "process")
        stack.cli("deploy", "--all", "--prefect-file", "deployments/prefect.yaml")
        yield stack
    finally:
        stop_process(process)


def save_shared_block(stack: PrefectStack, folder: Path) -> None:
    script = (
        "from prefect.filesystems import LocalFileSystem\n"
        f"LocalFileSystem(basepath={str(folder)!r}).save({SHARED_BLOCK!r})\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
    )
    assert done.returncode == 0, done.stderr


def machine_env(stack: PrefectStack, home: Path) -> dict[str, str]:
    """A worker's environment on its own machine: own HOME, shared server and block."""
    env = {
        **stack.env,
        "HOME": str(home),
        "PREFECT_HOME": str(home / ".prefect"),
        "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK": f"local-file-system/{SHARED_BLOCK}",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "1",
    }
    # Nothing local may be shared: the test session's journal folder and result folder.
    for name in ("PIKTID_JOURNAL_DIR", "PREFECT_LOCAL_STORAGE_PATH"):
        env.pop(name, None)
    return env


def start_worker(stack: PrefectStack, home: Path) -> subprocess.Popen[bytes]:
    home.mkdir()
    return start_process(
        [PREFECT, "worker", "start", "--pool", "piktid"],
        machine_env(stack, home),
        home / "worker.log",
    )


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants. A process worker starts each flow run in a new
    session: killing the worker's process group would leave the flow run running."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def wait_until_followups_started(emulator: EmulatorServer, email: str, total: int) -> Any:
    deadline = time.monotonic() + KILL_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        stats = emulator.stats(email)
        if stats.credits_charged >= total:
            return stats
        time.sleep(0.05)
    pytest.fail(f"{total} generations not started in {KILL_DEADLINE_SECONDS:g} s")


def test_a_batch_killed_on_one_machine_is_finished_on_another_without_paying_twice(
    server: PrefectStack, emulator: EmulatorServer, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    save_shared_block(server, shared)
    email = server.account.email
    samples = {p.stem: str(p) for p in sample_images()}
    # 2 one-person photos x 3 Locations: per photo, 1 first generation and 2 follow-ups.
    parameters: dict[str, Any] = {
        "images": [samples["astronaut"], samples["grace_hopper"]],
        "person_keywords": LOCATIONS,
        "stagger_seconds": STAGGER_API_SECONDS * TIME_SCALE,
        "timeout_seconds": WAIT_SECONDS,
        "concurrency_limit": None,
    }
    total = 6

    machine_a = start_worker(server, tmp_path / "machine-a")
    try:
        with api(server) as client:
            trigger(
                client,
                "piktid-batch-variations/piktid-batch",
                {**parameters, "out_dir": str(tmp_path / "out-a")},
            )
        at_kill = wait_until_followups_started(emulator, email, total)
        for pid in process_tree(machine_a.pid):  # the machine dies: worker and flow run
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    finally:
        stop_process(machine_a)

    # Mid-batch: the firsts were delivered, the follow-ups paid for and still in flight.
    delivered = [g for g in at_kill.generations if g.seen_at is not None]
    in_flight = [g for g in at_kill.generations if g.completed_at is None]
    assert len(delivered) == 2 and len(in_flight) == 4, at_kill.generations
    journal = [p for p in (shared / JOURNAL_PREFIX).iterdir() if p.stat().st_size > 0]
    assert len(journal) == 4  # the paid starts, on the shared storage

    machine_b = start_worker(server, tmp_path / "machine-b")
    try:
        with api(server) as client:
            rerun = trigger(
                client,
                "piktid-batch-variations/piktid-batch",
                {**parameters, "out_dir": str(tmp_path / "out-b")},
            )
            (finished,) = wait_for(client, rerun.id)
    finally:
        stop_process(machine_b)

    log = (tmp_path / "machine-b" / "worker.log").read_text(errors="replace")[-3000:]
    assert finished.state is not None and finished.state.is_completed(), log
    outputs = json.loads((tmp_path / "out-b" / "manifest.json").read_text())["outputs"]
    assert len(outputs) == total
    assert all((tmp_path / "out-b" / Path(o["path"]).name).is_file() for o in outputs)
    stats = emulator.stats(email)
    assert stats.credits_charged == total  # 0 extra credits for the re-run
    assert not stats.duplicates
    assert stats.requests.get("POST /edit/target") == 2  # uploads came from the cache too
    # Neither machine kept anything of it locally.
    for home in (tmp_path / "machine-a", tmp_path / "machine-b"):
        assert not (home / ".piktid-prefect").exists()
