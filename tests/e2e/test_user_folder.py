"""Every public flow, run the ways Prefect's docs teach, from a user's own folder.

The folder is a temporary directory outside this repository holding only the user's
``my_flows.py`` (``tests/e2e/user_project``), a ``prefect.yaml`` and a photo; the package
is used as installed. One real ``prefect server`` with its scheduler on, as a fresh
install runs it: the scheduled ways must get runs *the scheduler* created.

Ways: a direct call; ``flow.serve()``; ``flow.to_deployment()`` + ``prefect.serve``;
``flow.deploy()`` and ``prefect deploy``, both run by a ``process`` worker started in the
user's folder. Each way's five runs are triggered together and then checked one test per
flow. The inbox flow is also served and deployed with a short interval schedule, and a
run the scheduler made must complete (Prefect 3.8 + SQLAlchemy 2.1 never made one).
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
import yaml
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectNotFound

from piktid_prefect import flows
from piktid_prefect.demo import sample_images
from piktid_prefect.emulator import EmulatorServer
from tests.e2e.conftest import (
    PREFECT,
    PrefectStack,
    save_credentials_block,
    start_process,
    start_server,
    stop_process,
)
from tests.e2e.test_deployments import api

# In the longer job: on a loaded machine the sqlite server answered 503 to a deployment's
# apply (seen once in a CI-like run), which fails the whole module.
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.long]

USER_FILE = Path(__file__).with_name("user_project") / "my_flows.py"
BLOCK = "user-piktid"
POOL = "user-pool"
# Many processes share 2 busy cores here: a flow run's process alone takes seconds to start.
RUN_TIMEOUT_SECONDS = 300.0
PUBLIC_FLOWS = [
    "piktid-generate-people",
    "piktid-edit-backgrounds",
    "piktid-person-and-background-variations",
    "piktid-batch-variations",
    "piktid-process-new-images",
]
DEPLOYMENTS = {
    "serve": "user-serve",
    "to_deployment": "user-to-deployment",
    "deploy": "user-deploy",
    "prefect-deploy": "user-cli",
}
# The flow a user puts on a schedule; the scheduler's runs of it are checked in two ways.
SCHEDULED_FLOW = "piktid-process-new-images"
INTERVAL_SECONDS = 10
ENTRYPOINTS = {
    "piktid-generate-people": "generate_people",
    "piktid-edit-backgrounds": "edit_backgrounds",
    "piktid-person-and-background-variations": "person_and_background_variations",
    "piktid-batch-variations": "batch_variations",
    "piktid-process-new-images": "process_new_images",
}
# Outputs of one run with the parameters below (the photo shows one person).
EXPECTED_OUTPUTS = {
    "piktid-generate-people": 1,
    "piktid-edit-backgrounds": 1,
    "piktid-person-and-background-variations": 2,
    "piktid-batch-variations": 2,
    "piktid-process-new-images": 2,
}


# Each way asks for its own keywords, and each flow of a way for its own seed: no two runs
# that may overlap ask for the same output (identical outputs are shared through Prefect's
# result cache and PiktID's notifications; that is not what these tests are about).
WAY_KEYWORDS = {
    "direct": ("Oceania", "Beach"),
    "serve": ("East Asia", "Forest"),
    "to_deployment": ("Africa", "Mountains"),
    "deploy": ("North Europe", "Desert"),
    "prefect-deploy": ("South America", "Lake"),
}


def parameters(folder: Path, flow_name: str, way: str, scale: float) -> dict[str, Any]:
    """Small runs against the emulator's fast clock; every (flow, way) writes its own folder."""
    photos = folder / "photos"
    photo = str(photos / "astronaut.jpg")
    location, value = WAY_KEYWORDS[way.removesuffix("-by-hand")]
    person, background = [{"Location": location}], [{"nature_landscapes": value}]
    seed = {"seed": 1 + PUBLIC_FLOWS.index(flow_name)}
    common = {
        "credentials": BLOCK,
        "out_dir": str(folder / "out" / way / flow_name),
        "timeout_seconds": 120.0,
    }
    stagger = {"stagger_seconds": 15.0 * scale}
    return {
        "piktid-generate-people": {
            **common,
            **stagger,
            **seed,
            "image": photo,
            "keywords": person,
        },
        "piktid-edit-backgrounds": {**common, **seed, "image": photo, "keywords": background},
        "piktid-person-and-background-variations": {
            **common,
            **stagger,
            **seed,
            "image": photo,
            "person_keywords": person,
            "background_keywords": background,
        },
        "piktid-batch-variations": {
            **common,
            **stagger,
            **seed,
            "images": str(photos),
            "person_keywords": person,
            "background_keywords": background,
        },
        "piktid-process-new-images": {
            **common,
            **stagger,
            "inbox": str(photos),
            "person_keywords": person,
            "background_keywords": background,
        },
    }[flow_name]


@dataclass
class UserProject:
    folder: Path
    stack: PrefectStack
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    finished: dict[str, dict[str, Any]] = field(default_factory=dict)

    def parameters(self, flow_name: str, way: str) -> dict[str, Any]:
        scale = float(self.stack.emulator.config.time_scale)
        return parameters(self.folder, flow_name, way, scale)

    def by_flow(self, way: str) -> str:
        return json.dumps({name: self.parameters(name, way) for name in PUBLIC_FLOWS})

    def python(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "my_flows.py", *args],
            cwd=self.folder,
            env=self.stack.env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_SECONDS,
        )
        assert done.returncode == 0, f"{args[:2]}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done

    def start(self, log_name: str, *args: str) -> None:
        log = self.folder / f"{log_name}.log"
        self.processes.append(start_process([*args], self.stack.env, log, cwd=self.folder))

    def runs_by_hand(self, way: str) -> dict[str, Any]:
        """One run of each flow's deployment of ``way``, triggered together, when final."""
        if way not in self.finished:
            with api(self.stack) as client:
                created = {}
                for name in PUBLIC_FLOWS:
                    deployment = _wait_for_deployment(client, f"{name}/{DEPLOYMENTS[way]}", self)
                    out_dir = self.parameters(name, f"{way}-by-hand")["out_dir"]
                    created[name] = client.create_flow_run_from_deployment(
                        deployment.id, parameters={"out_dir": out_dir}
                    )
                finished = {name: _wait_final(client, run) for name, run in created.items()}
                for name, run in finished.items():
                    if _not_submitted(run):  # the server, not the flow: try once more
                        again = client.create_flow_run_from_deployment(
                            run.deployment_id, parameters={"out_dir": run.parameters["out_dir"]}
                        )
                        finished[name] = _wait_final(client, again)
                self.finished[way] = finished
        return self.finished[way]


def _write_prefect_yaml(project: UserProject) -> None:
    """The user's ``prefect.yaml``: every flow from ``my_flows.py``; the inbox scheduled."""
    deployments = []
    for name in PUBLIC_FLOWS:
        deployment = {
            "name": DEPLOYMENTS["prefect-deploy"],
            "entrypoint": f"my_flows.py:{ENTRYPOINTS[name]}",
            "parameters": project.parameters(name, "prefect-deploy"),
            "work_pool": {"name": POOL},
        }
        if name == SCHEDULED_FLOW:
            deployment["schedules"] = [{"interval": INTERVAL_SECONDS}]
            # Overlapping scheduled passes would make the same new outputs: one at a time.
            deployment["concurrency_limit"] = {"limit": 1, "collision_strategy": "CANCEL_NEW"}
        deployments.append(deployment)
    spec = {
        "name": "my-piktid-project",
        "prefect-version": "3.8.8",
        "build": None,
        "push": None,
        "pull": None,
        "deployments": deployments,
    }
    (project.folder / "prefect.yaml").write_text(yaml.safe_dump(spec))


@pytest.fixture(scope="module")
def user_project(
    tmp_path_factory: pytest.TempPathFactory, piktid_emulator: EmulatorServer
) -> Iterator[UserProject]:
    """The folder, the server, the deployments, a worker and the serving processes."""
    folder = tmp_path_factory.mktemp("user-project")
    (folder / "photos").mkdir()
    shutil.copy(USER_FILE, folder / "my_flows.py")
    shutil.copy(next(p for p in sample_images() if p.stem == "astronaut"), folder / "photos")
    home = tmp_path_factory.mktemp("user-prefect-home")
    stack, server = start_server(home, piktid_emulator, scheduler=True)
    project = UserProject(folder, stack)
    try:
        save_credentials_block(stack, stack.account, BLOCK)
        stack.cli("work-pool", "create", POOL, "--type", "process", cwd=folder)
        project.python("deploy", POOL, project.by_flow("deploy"))
        _write_prefect_yaml(project)
        stack.cli("deploy", "--all", cwd=folder)
        # At most 2 flow-run processes at a time: more kept the sqlite server locked (503).
        project.start("worker", PREFECT, "worker", "start", "--pool", POOL, "--limit", "2")
        # One serving process at a time: six registering at once kept sqlite locked.
        with api(stack) as client:
            for name in PUBLIC_FLOWS:
                args = ["serve", name, json.dumps(project.parameters(name, "serve"))]
                if name == SCHEDULED_FLOW:  # as the user did: .serve(interval=...)
                    args.append(str(INTERVAL_SECONDS))
                project.start(f"serve-{name}", sys.executable, "my_flows.py", *args)
                _wait_for_deployment(client, f"{name}/{DEPLOYMENTS['serve']}", project)
            project.start(
                "to-deployment",
                *(sys.executable, "my_flows.py", "to_deployment", project.by_flow("to_deployment")),
            )
        yield project
    finally:
        # flow.serve() outlives SIGTERM in Prefect 3.8.8 (tested for our serve.py in
        # test_deployments): these test processes are killed with their runs.
        for process in project.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        stop_process(server)


def test_every_public_flow_validates_its_parameters_when_pickled_by_value() -> None:
    # flow.serve() sends the flow to its run's process with cloudpickle, by value: the
    # function keeps only the globals its code names. Annotations that are strings would
    # no longer resolve ("... is not fully defined; you should define PersonKeyword").
    values: dict[str, Any] = {
        "image": "photo.jpg",
        "images": "photos",
        "keywords": [{"Location": "Oceania"}],
        "person_keywords": [{"Location": "Oceania"}],
        "background_keywords": [{"nature_landscapes": "Beach"}],
    }
    public = (
        flows.generate_people,
        flows.edit_backgrounds,
        flows.person_and_background_variations,
        flows.batch_variations,
        flows.process_new_images,
    )
    assert sorted(f.name for f in public) == sorted(PUBLIC_FLOWS)
    for flow in public:
        copy = pickle.loads(cloudpickle.dumps(flow))
        required = {name: values[name] for name in copy.parameters.required}
        assert copy.validate_parameters(required), flow.name


@pytest.mark.parametrize("way", ["serve", "prefect-deploy"])
def test_a_run_the_scheduler_made_completes(user_project: UserProject, way: str) -> None:
    # First in this module: the schedule fires every 10 s until this test pauses it.
    with api(user_project.stack) as client:
        name = f"{SCHEDULED_FLOW}/{DEPLOYMENTS[way]}"
        deployment = _wait_for_deployment(client, name, user_project)
        run = _first_finished_run(client, deployment.id)
        # One run is enough: stop the schedule so that it does not load the machine further.
        client.pause_deployment(deployment.id)

    assert run.auto_scheduled, "the run must come from the server's scheduler"
    assert run.state is not None and run.state.is_completed(), run.state
    _assert_delivered(user_project.parameters(SCHEDULED_FLOW, way), SCHEDULED_FLOW)


@pytest.mark.parametrize("flow_name", PUBLIC_FLOWS)
def test_a_direct_call_from_the_users_folder(user_project: UserProject, flow_name: str) -> None:
    if "direct" not in user_project.finished:
        done = user_project.python("direct", user_project.by_flow("direct"))
        user_project.finished["direct"] = json.loads(done.stdout.strip().splitlines()[-1])
    result = user_project.finished["direct"][flow_name]

    assert len(result["outputs"]) == EXPECTED_OUTPUTS[flow_name] and not result["failures"]
    _assert_delivered(user_project.parameters(flow_name, "direct"), flow_name)


@pytest.mark.parametrize("flow_name", PUBLIC_FLOWS)
@pytest.mark.parametrize(
    "way",
    # serve (Prefect's docs' way) and prefect deploy (the README's) in the default run.
    [
        w if w in ("serve", "prefect-deploy") else pytest.param(w, marks=pytest.mark.long)
        for w in DEPLOYMENTS
    ],
)
def test_a_run_of_the_deployment_completes(
    user_project: UserProject, way: str, flow_name: str
) -> None:
    run = user_project.runs_by_hand(way)[flow_name]

    assert run.state is not None and run.state.is_completed(), (run.state, way, flow_name)
    _assert_delivered(user_project.parameters(flow_name, f"{way}-by-hand"), flow_name)


def _assert_delivered(params: dict[str, Any], flow_name: str) -> None:
    out = Path(params["out_dir"])
    outputs = json.loads((out / "manifest.json").read_text())["outputs"]
    assert len(outputs) == EXPECTED_OUTPUTS[flow_name]
    assert all((out / Path(o["path"]).name).is_file() for o in outputs)


def _wait_for_deployment(client: SyncPrefectClient, name: str, project: UserProject) -> Any:
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            return client.read_deployment_by_name(name)
        except ObjectNotFound:  # until the process has registered it
            if any(p.poll() is not None for p in project.processes):
                logs = {p.name: p.read_text()[-1500:] for p in project.folder.glob("*.log")}
                pytest.fail(f"a serving process exited: {logs}")
            time.sleep(1.0)
    pytest.fail(f"{name} not registered within {RUN_TIMEOUT_SECONDS:g} s")


def _first_finished_run(client: SyncPrefectClient, deployment_id: Any) -> FlowRun:
    """The first run the scheduler made (not one triggered by hand) that has finished."""
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
        )
        for run in runs:
            state = run.state
            # A run cancelled because the previous one still ran (CANCEL_NEW) is skipped.
            if run.auto_scheduled and state and state.is_final() and not state.is_cancelled():
                return run
        time.sleep(1.0)
    pytest.fail(f"no run of deployment {deployment_id} finished in {RUN_TIMEOUT_SECONDS:g} s")


def _not_submitted(run: FlowRun) -> bool:
    """Crashed before its process started: the sqlite server answered 503 to the worker."""
    state = run.state
    return bool(
        state and state.is_crashed() and "Failed to submit flow run" in (state.message or "")
    )


def _wait_final(client: SyncPrefectClient, run: FlowRun) -> FlowRun:
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        run = client.read_flow_run(run.id)
        if run.state is not None and run.state.is_final():
            return run
        time.sleep(1.0)
    pytest.fail(f"run {run.id} not finished in {RUN_TIMEOUT_SECONDS:g} s: {run.state}")
