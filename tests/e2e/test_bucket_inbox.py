"""Photos in a bucket, results back in the bucket, on a real ``prefect server`` (issue 22).

A scheduled inbox deployment reads its photos from an S3 bucket (moto's server on
loopback, reached through a prefect-aws ``S3Bucket`` block) and writes every output,
``manifest.json`` and its entries into the same bucket. Two workers, each with its own
``HOME``, share only the server, the bucket and the result storage (a ``LocalFileSystem``
block on a folder both reach, as in ``tests/postgres/test_two_machines.py``). The first
worker is killed (worker and flow run) once an output reached the bucket; the second
takes the next scheduled runs. At the end the bucket holds every output once, the
manifest lists each once, and the account was charged once per output.

The killed run stays Running on the server (nothing reports its death): the test marks
it Crashed, as Prefect's heartbeat automation for zombie runs would, which frees the
deployment's one concurrency slot.
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
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.states import Crashed

from piktid_prefect.demo import sample_images
from piktid_prefect.emulator import EmulatorConfig, EmulatorServer
from tests.e2e.conftest import (
    CLI_TIMEOUT_SECONDS,
    PrefectStack,
    save_credentials_block,
    start_server,
    stop_process,
)
from tests.e2e.test_deployments import api
from tests.helpers.moto_s3 import MotoS3, moto_s3
from tests.helpers.prefect_server import PROJECT_ROOT
from tests.postgres.test_two_machines import (
    process_tree,
    save_shared_block,
    start_worker,
)

pytestmark = [pytest.mark.e2e, pytest.mark.long]

# 1 API-second = 0.25 real seconds; a generation takes 8 API-s (2 real s), a person's
# follow-ups start 30 API-s (7.5 real s) after its first: a kill after the first output
# reached the bucket finds other outputs paid and in flight, or not started yet.
TIME_SCALE = 0.25
SCHEDULE_SECONDS = 20
LOCATIONS = [{"Location": "Oceania"}, {"Location": "East Asia"}]
DEADLINE_SECONDS = 400.0
BUCKET_BLOCK = "piktid-photos"
CREDENTIALS = "piktid-bucket"


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    config = EmulatorConfig(
        time_scale=TIME_SCALE, seed=0, generation_seconds=8.0, mask_warmup_seconds=0.0
    )
    with EmulatorServer(config) as server:
        yield server


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoS3]:
    pytest.importorskip("moto", reason="needs moto[server] (the test extra)")
    pytest.importorskip("prefect_aws", reason='needs the s3 extra: pip install ".[s3]"')
    with moto_s3() as server:
        yield server


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorServer
) -> Iterator[PrefectStack]:
    """A server whose scheduler runs (every 2 s), with no worker yet."""
    home = tmp_path_factory.mktemp("bucket-control")
    with pytest.MonkeyPatch.context() as patch:  # read by start_server's environment
        patch.setenv("PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS", "2")
        stack, server = start_server(home, emulator, scheduler=True)
    try:
        yield stack
    finally:
        stop_process(server)


def run_python(stack: PrefectStack, script: str) -> None:
    """Save blocks from a subprocess: this process may be bound to another Prefect API."""
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
    )
    assert done.returncode == 0, done.stderr


def save_blocks(stack: PrefectStack, s3: MotoS3, bucket: str, shared: Path) -> None:
    run_python(
        stack,
        "from prefect_aws import AwsCredentials, S3Bucket\n"
        "from prefect_aws.client_parameters import AwsClientParameters\n"
        "creds = AwsCredentials(aws_access_key_id='testing', aws_secret_access_key='testing',"
        " region_name='us-east-1', aws_client_parameters=AwsClientParameters("
        f"endpoint_url={s3.endpoint_url!r}, config={{'s3': {{'addressing_style': 'path'}}}}))\n"
        f"S3Bucket(bucket_name={bucket!r}, credentials=creds).save({BUCKET_BLOCK!r})\n",
    )
    save_shared_block(stack, shared)


def deploy_inbox(stack: PrefectStack, folder: Path) -> None:
    """The inbox deployment of deployments/prefect.yaml, on the bucket, every 20 s."""
    block = f"s3-bucket/{BUCKET_BLOCK}"
    parameters = {
        "credentials": CREDENTIALS,
        "inbox": "inbox",
        "storage_block": block,
        "out_dir": "out",
        "output_storage_block": block,
        "person_keywords": LOCATIONS,
        "stagger_seconds": 30.0 * TIME_SCALE,
        "timeout_seconds": 120.0,
    }
    deployment = {
        "name": "bucket-inbox",
        "entrypoint": "flows/process_new_images.py:process_new_images",
        "enforce_parameter_schema": True,
        "concurrency_limit": {"limit": 1, "collision_strategy": "CANCEL_NEW"},
        "parameters": parameters,
        "schedules": [{"interval": SCHEDULE_SECONDS, "active": True}],
        "work_pool": {"name": "piktid"},
    }
    spec = {"name": "bucket", "build": None, "push": None, "pull": None}
    path = folder / "prefect.yaml"
    path.write_text(json.dumps({**spec, "deployments": [deployment]}))  # JSON is YAML
    stack.cli("work-pool", "create", "piktid", "--type", "process")
    stack.cli("deploy", "--all", "--prefect-file", str(path), cwd=PROJECT_ROOT)


def objects(s3: MotoS3, bucket: str, prefix: str) -> list[str]:
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def wait(what: str, check: Any, seconds: float = DEADLINE_SECONDS) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    pytest.fail(f"{what}: not within {seconds:g} s")


def runs_in(stack: PrefectStack, *states: StateType) -> list[Any]:
    with api(stack) as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["bucket-inbox"])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=list(states)))
            ),
        )


def kill(worker: subprocess.Popen[bytes]) -> None:
    for pid in process_tree(worker.pid):  # the machine dies: worker and flow run
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    stop_process(worker)


def test_a_scheduled_bucket_inbox_survives_a_killed_worker_and_pays_once_per_output(
    stack: PrefectStack, s3: MotoS3, emulator: EmulatorServer, tmp_path: Path
) -> None:
    bucket = s3.new_bucket()
    shared = tmp_path / "shared"
    shared.mkdir()
    save_blocks(stack, s3, bucket, shared)
    save_credentials_block(stack, stack.account, CREDENTIALS)
    for photo in sample_images():
        s3.client().put_object(Bucket=bucket, Key=f"inbox/{photo.name}", Body=photo.read_bytes())
    deploy_inbox(stack, tmp_path)
    email = stack.account.email

    machine_a = start_worker(stack, tmp_path / "machine-a")
    try:
        wait("an output in the bucket", lambda: objects(s3, bucket, "out/manifest.d/o-"))
        charged_at_kill = emulator.stats(email).credits_charged
    finally:
        kill(machine_a)
    zombies = runs_in(stack, StateType.RUNNING)
    for run in zombies:  # see the module docstring
        with api(stack) as client:
            client.set_flow_run_state(run.id, Crashed(message="machine-a was killed"), force=True)

    machine_b = start_worker(stack, tmp_path / "machine-b")
    try:
        # A run that made the rest, then a scheduled run after it that found nothing new.
        wait(
            "two completed runs on machine-b", lambda: len(runs_in(stack, StateType.COMPLETED)) >= 2
        )
    finally:
        stop_process(machine_b)

    log = (tmp_path / "machine-b" / "worker.log").read_text(errors="replace")[-3000:]
    manifest = json.loads(
        s3.client().get_object(Bucket=bucket, Key="out/manifest.json")["Body"].read()
    )
    listed = [Path(o["path"]).name for o in manifest["outputs"]]
    images = [k for k in objects(s3, bucket, "out/") if k.count("/") == 1 and k.endswith(".jpg")]
    stats = emulator.stats(email)
    assert len(listed) == len(set(listed)), listed  # each output listed once
    assert sorted(f"out/{name}" for name in listed) == sorted(images), log
    assert {o["image"] for o in manifest["outputs"]} == {p.stem for p in sample_images()}
    assert stats.credits_charged == len(listed), (charged_at_kill, stats.credits_charged)
    assert not stats.duplicates
    # The kill was mid-run: machine-a had paid for some outputs, machine-b for the rest.
    assert len(zombies) == 1
    assert 0 < charged_at_kill < stats.credits_charged
    for home in (tmp_path / "machine-a", tmp_path / "machine-b"):
        assert not (home / ".piktid-prefect").exists()
