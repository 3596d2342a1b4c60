"""The shipped deployments on a real ``prefect server``: deployed with ``prefect deploy
--all``, run by a ``process`` worker, against the PiktID emulator."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import FlowRun
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.settings import PREFECT_API_URL, temporary_settings

from piktid_prefect.demo import sample_images
from piktid_prefect.execution.account_limit import DEFAULT_ACCOUNT_LIMIT
from tests.e2e.conftest import (
    CREDENTIALS_BLOCK,
    PrefectStack,
    save_credentials_block,
    start_process,
    stop_process,
)

pytestmark = pytest.mark.e2e

RUN_TIMEOUT_SECONDS = 120.0
LOCATIONS = [{"Location": "Oceania"}, {"Location": "East Asia"}]
# Real seconds to wait for a notification: the emulator renders on this machine's CPU
# (a background edit of the group photo takes a few real seconds on 2 busy cores), so a
# scaled 600 s (6 s) is too tight here.
WAIT_SECONDS = 60.0
BACKGROUNDS = [{"nature_landscapes": "Beach"}]
# Kubernetes' and Docker's default grace period before SIGKILL.
SIGTERM_GRACE_SECONDS = 10.0


@contextmanager
def api(stack: PrefectStack) -> Iterator[SyncPrefectClient]:
    with (
        temporary_settings({PREFECT_API_URL: stack.api_url}),
        get_client(sync_client=True) as client,
    ):
        yield client


def fast(stack: PrefectStack, **parameters: Any) -> dict[str, Any]:
    """Run parameters scaled to the emulator's fast clock, on the e2e credentials block."""
    scale = float(stack.emulator.config.time_scale)
    return {
        "credentials": CREDENTIALS_BLOCK,
        "stagger_seconds": 15.0 * scale,
        "timeout_seconds": WAIT_SECONDS,
        **parameters,
    }


def trigger(client: SyncPrefectClient, name: str, parameters: dict[str, Any]) -> FlowRun:
    deployment = client.read_deployment_by_name(name)
    return client.create_flow_run_from_deployment(deployment.id, parameters=parameters)


def wait_for(client: SyncPrefectClient, *run_ids: UUID) -> list[FlowRun]:
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while True:
        runs = [client.read_flow_run(run_id) for run_id in run_ids]
        if all(run.state is not None and run.state.is_final() for run in runs):
            return runs
        if time.monotonic() > deadline:
            pytest.fail(f"runs not finished in {RUN_TIMEOUT_SECONDS:g} s: {runs}")
        time.sleep(0.5)


def children_of(client: SyncPrefectClient, run: FlowRun) -> list[FlowRun]:
    return client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run.id])
        )
    )


def artifacts_of(client: SyncPrefectClient, run: FlowRun) -> list[Any]:
    """Artifacts of the run and of its subflow runs."""
    ids = [run.id, *(child.id for child in children_of(client, run))]
    return client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids))
    )


def own_artifacts(client: SyncPrefectClient, run: FlowRun) -> list[Any]:
    """Artifacts shown on the run's own page (not its subflows')."""
    return client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
    )


def log_messages(client: SyncPrefectClient, run: FlowRun) -> list[str]:
    """Every log line of the run, its tasks and its subflow runs.

    Runs ship their logs in batches: wait until the run's last line ("Finished in state")
    has reached the server, so that every earlier line has too.
    """
    ids = [run.id, *(child.id for child in children_of(client, run))]
    deadline = time.monotonic() + 60.0
    while True:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)), limit=200
        )
        messages = [log.message for log in logs]
        if any(
            log.flow_run_id == run.id
            and log.task_run_id is None
            and log.message.startswith("Finished in state")
            for log in logs
        ):
            return messages
        if time.monotonic() > deadline:
            pytest.fail(f"the run's logs did not reach the server: {messages[-5:]}")
        time.sleep(0.5)


def inbox_with(tmp_path: Path, *stems: str) -> Path:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for sample in sample_images():
        if sample.stem in stems:
            shutil.copy(sample, inbox / sample.name)
    return inbox


def test_deploy_all_creates_a_scheduled_and_on_demand_deployments(
    prefect_stack: PrefectStack,
) -> None:
    with api(prefect_stack) as client:
        inbox = client.read_deployment_by_name("piktid-process-new-images/piktid-inbox")
        batch = client.read_deployment_by_name("piktid-batch-variations/piktid-batch")
        people = client.read_deployment_by_name("piktid-generate-people/piktid-people")

    assert [s.schedule.interval.total_seconds() for s in inbox.schedules] == [900.0]  # type: ignore[union-attr]
    assert batch.schedules == [] and people.schedules == []
    for deployment in (inbox, batch, people):
        assert deployment.work_pool_name == "piktid"
        assert deployment.job_variables == {"env": {"MALLOC_ARENA_MAX": "2"}}
        assert deployment.enforce_parameter_schema
        assert deployment.parameters["credentials"] == "piktid"  # a block name, no secret
        assert deployment.parameters["concurrency_limit"] == DEFAULT_ACCOUNT_LIMIT
    # Overlapping scheduled runs would see the same new images: the newer one is cancelled.
    assert inbox.global_concurrency_limit is not None
    assert inbox.global_concurrency_limit.limit == 1
    assert inbox.concurrency_options is not None
    assert inbox.concurrency_options.collision_strategy == "CANCEL_NEW"


def test_scheduled_inbox_deployment_delivers_new_images_and_never_pays_twice(
    prefect_stack: PrefectStack, tmp_path: Path
) -> None:
    emulator, account = prefect_stack.emulator, prefect_stack.account
    inbox, out = inbox_with(tmp_path, "grace_hopper", "astronaut"), tmp_path / "out"
    parameters = fast(
        prefect_stack,
        inbox=str(inbox),
        out_dir=str(out),
        person_keywords=LOCATIONS,
        background_keywords=BACKGROUNDS,
        concurrency_limit=None,
    )
    charged_before = emulator.stats(account.email).credits_charged

    with api(prefect_stack) as client:
        (run,) = wait_for(
            client, trigger(client, "piktid-process-new-images/piktid-inbox", parameters).id
        )
        artifacts = artifacts_of(client, run)
        (summary,) = own_artifacts(client, run)
        (variations,) = children_of(client, run)
        after_first = emulator.stats(account.email)
        (again,) = wait_for(
            client, trigger(client, "piktid-process-new-images/piktid-inbox", parameters).id
        )
        (nothing_new,) = own_artifacts(client, again)

    assert run.state is not None and run.state.is_completed(), run.state
    # 2 images x (1 person x 2 locations + 1 background), each paid once.
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["outputs"]) == 6
    assert all((out / Path(o["path"]).name).is_file() for o in manifest["outputs"])
    assert after_first.credits_charged - charged_before == 6
    assert {a.type for a in artifacts} >= {"table", "progress"}
    # The run the user opens shows the results and links to the subflow's artifacts.
    assert summary.type == "markdown" and summary.key == "piktid-inbox-summary"
    assert str(variations.id) in summary.data
    assert "6 output(s) delivered" in summary.data
    assert all(Path(o["path"]).name in summary.data for o in manifest["outputs"])
    # The run holds the block's name; no secret reaches the server's parameters.
    assert run.parameters["credentials"] == CREDENTIALS_BLOCK
    stored = json.dumps(run.parameters)
    assert account.password not in stored and account.access_token not in stored
    # The second (scheduled) pass finds nothing new: no upload, no credit.
    assert again.state is not None and again.state.is_completed(), again.state
    assert "Nothing new" in nothing_new.data and "no credit spent" in nothing_new.data
    after_second = emulator.stats(account.email)
    assert after_second.credits_charged == after_first.credits_charged
    assert after_second.requests.get("POST /edit/target") == after_first.requests.get(
        "POST /edit/target"
    )


INBOX = "piktid-process-new-images/piktid-inbox"
BATCH = "piktid-batch-variations/piktid-batch"
PEOPLE = "piktid-generate-people/piktid-people"
# (deployment, parameter, bad keyword, what the refusal names)
BAD_KEYWORDS = [
    (INBOX, "person_keywords", {"Location": "Atlantis"}, "Atlantis"),
    (INBOX, "background_keywords", {"nature_landscapes": "Moon"}, "Moon"),
    (BATCH, "person_keywords", {"Location": "Atlantis"}, "Atlantis"),
    (BATCH, "background_keywords", {"mood": "Beach"}, "mood"),
    (PEOPLE, "keywords", {"Location": "Atlantis"}, "Atlantis"),
    (PEOPLE, "keywords", {"Country": "Oceania"}, "Country"),
]


@pytest.mark.parametrize(("deployment", "parameter", "keyword", "named"), BAD_KEYWORDS)
def test_a_run_with_an_unknown_keyword_is_refused_before_it_is_queued(
    prefect_stack: PrefectStack,
    tmp_path: Path,
    deployment: str,
    parameter: str,
    keyword: dict[str, str],
    named: str,
) -> None:
    images = [str(next(iter(sample_images())))]
    bad = fast(prefect_stack, inbox=str(tmp_path), images=images, image=images[0])
    bad = {k: v for k, v in bad.items() if k in _parameters_of(prefect_stack, deployment)}
    bad[parameter] = [keyword]
    with api(prefect_stack) as client, pytest.raises(PrefectHTTPStatusError) as refused:
        trigger(client, deployment, bad)
    assert refused.value.response.status_code in (409, 422)
    assert named in refused.value.response.text


def test_the_cli_refuses_an_unknown_keyword_for_the_batch_deployment(
    prefect_stack: PrefectStack,
) -> None:
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("prefect")),
            *("deployment", "run", "piktid-batch-variations/piktid-batch"),
            *("--param", "images=piktid-inbox"),
            *("--param", 'person_keywords=[{"Location": "Atlantis"}]'),
        ],
        env=prefect_stack.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "Atlantis" in done.stdout + done.stderr


def _parameters_of(stack: PrefectStack, name: str) -> set[str]:
    with api(stack) as client:
        return set(client.read_deployment_by_name(name).parameter_openapi_schema["properties"])


def in_flight_peak(records: list[Any]) -> int:
    """Most generations in flight at once, from their virtual-clock start/end times."""
    events = sorted(
        [(r.started_at, 1) for r in records] + [(r.completed_at, -1) for r in records],
        key=lambda e: (e[0], e[1]),  # an end before a start at the same instant
    )
    peak = current = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


def test_an_account_concurrency_limit_caps_generations_across_flow_runs(
    prefect_stack: PrefectStack, tmp_path: Path
) -> None:
    emulator = prefect_stack.emulator
    account = emulator.create_account(credits=100)
    limit_name = "e2e-piktid-account"
    block = f"{CREDENTIALS_BLOCK}-capped"
    save_credentials_block(prefect_stack, account, block)
    samples = {p.stem: str(p) for p in sample_images()}
    # Two runs, different images (no shared output): 3 persons x 2 locations, and
    # 2 one-person images x (2 locations + 1 background): 12 generations in all.
    batches = [
        {"images": [samples["group_of_three"]], "person_keywords": LOCATIONS},
        {
            "images": [samples["astronaut"], samples["grace_hopper"]],
            "person_keywords": LOCATIONS,
            "background_keywords": BACKGROUNDS,
        },
    ]
    with api(prefect_stack) as client:
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=limit_name, limit=2)
        )
        runs = [
            trigger(
                client,
                "piktid-batch-variations/piktid-batch",
                fast(
                    prefect_stack,
                    credentials=block,
                    out_dir=str(tmp_path / f"out-{i}"),
                    stagger_seconds=0.0,
                    concurrency_limit=limit_name,
                    **batch,
                ),
            )
            for i, batch in enumerate(batches)
        ]
        finished = wait_for(client, *(r.id for r in runs))

    assert all(r.state is not None and r.state.is_completed() for r in finished)
    records = emulator.stats(account.email).generations
    assert len(records) == 12 and all(r.completed_at is not None for r in records)
    # The cap is reached and never exceeded, though 12 generations were ready at once.
    assert in_flight_peak(records) == 2


def test_of_two_overlapping_inbox_runs_the_one_picked_up_second_is_cancelled(
    prefect_stack: PrefectStack, tmp_path: Path
) -> None:
    emulator = prefect_stack.emulator
    account = emulator.create_account(credits=100)
    block = f"{CREDENTIALS_BLOCK}-overlap"
    save_credentials_block(prefect_stack, account, block)
    parameters = fast(
        prefect_stack,
        credentials=block,
        inbox=str(inbox_with(tmp_path, "astronaut")),
        out_dir=str(tmp_path / "out"),
        person_keywords=LOCATIONS[:1],
        background_keywords=[],  # one output: 1 person x 1 location
        concurrency_limit=None,
    )
    with api(prefect_stack) as client:
        # Both queued before the worker's next poll: it picks them up together.
        created = [trigger(client, INBOX, parameters) for _ in range(2)]
        finished = wait_for(client, *(r.id for r in created))

    states = sorted(r.state.type.value for r in finished if r.state is not None)
    assert states == ["CANCELLED", "COMPLETED"], [r.state for r in finished]
    assert emulator.stats(account.email).credits_charged == 1


def test_a_missing_account_limit_is_reported_once_per_run(
    prefect_stack: PrefectStack, tmp_path: Path
) -> None:
    samples = {p.stem: str(p) for p in sample_images()}
    missing = "e2e-limit-nobody-created"
    parameters = fast(
        prefect_stack,
        images=[samples["group_of_three"]],
        person_keywords=LOCATIONS,
        out_dir=str(tmp_path / "out"),
        stagger_seconds=0.0,
        concurrency_limit=missing,
    )
    with api(prefect_stack) as client:
        (run,) = wait_for(
            client, trigger(client, "piktid-batch-variations/piktid-batch", parameters).id
        )
        messages = log_messages(client, run)

    assert run.state is not None and run.state.is_completed(), run.state
    # 3 persons x 2 locations = 6 generations, one warning (not one per generation).
    assert len(json.loads((tmp_path / "out" / "manifest.json").read_text())["outputs"]) == 6
    about_the_limit = [m for m in messages if missing in m]
    assert len(about_the_limit) == 1, about_the_limit
    assert "prefect gcl create" in about_the_limit[0]


def test_serve_script_runs_the_inbox_deployment_without_a_work_pool(
    prefect_stack: PrefectStack, tmp_path: Path
) -> None:
    emulator = prefect_stack.emulator
    account = emulator.create_account(credits=100)
    block = f"{CREDENTIALS_BLOCK}-served"
    save_credentials_block(prefect_stack, account, block)
    inbox, out = inbox_with(tmp_path, "astronaut"), tmp_path / "out"
    command = [
        *(sys.executable, "-m", "piktid_prefect.cli", "serve"),
        *("--inbox", str(inbox), "--out", str(out), "--credentials", block),
        *("--location", "Oceania", "--background", "nature_landscapes=Beach"),
    ]
    served = start_process(command, prefect_stack.env, tmp_path / "serve.log")
    try:
        with api(prefect_stack) as client:
            name = "piktid-process-new-images/piktid-inbox-served"
            deployment = _wait_for_deployment(client, name, served, tmp_path / "serve.log")
            assert deployment.schedules and deployment.parameters["credentials"] == block
            assert deployment.parameters["concurrency_limit"] == DEFAULT_ACCOUNT_LIMIT
            # Keywords and folders come from the script; only the clock is the test's.
            (run,) = wait_for(
                client, trigger(client, name, fast(prefect_stack, credentials=block)).id
            )
            # Stopped the way systemd, Docker and Kubernetes stop it: SIGTERM to the process.
            os.kill(served.pid, signal.SIGTERM)
            started = time.monotonic()
            try:
                code = served.wait(timeout=SIGTERM_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                pytest.fail(f"serve.py still running {SIGTERM_GRACE_SECONDS:g} s after SIGTERM")
            stopped_in = time.monotonic() - started
            paused = client.read_deployment_by_name(name).paused
    finally:
        stop_process(served)

    log = (tmp_path / "serve.log").read_text()
    assert code == 0 and stopped_in < SIGTERM_GRACE_SECONDS, (code, log[-2000:])
    assert "never awaited" not in log
    assert paused  # the schedule does not fire while nothing serves it
    assert run.state is not None and run.state.is_completed(), run.state
    assert len(json.loads((out / "manifest.json").read_text())["outputs"]) == 2
    assert emulator.stats(account.email).credits_charged == 2


def _wait_for_deployment(client: SyncPrefectClient, name: str, process: Any, log: Path) -> Any:
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"serve.py exited:\n{log.read_text()[-3000:]}")
        try:
            return client.read_deployment_by_name(name)
        except ObjectNotFound:
            time.sleep(0.5)
    pytest.fail(f"{name} was not served within 60 s")
