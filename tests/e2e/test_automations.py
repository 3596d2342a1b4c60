"""The ready automations on a real ``prefect server``: installed by the command, fired by
the events real runs emit, acting as promised (a paused deployment, a notification)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.objects import FlowRun

from piktid_prefect.automations import CREDITS_LOW_AUTOMATION, OUTPUTS_FAILED_AUTOMATION
from piktid_prefect.demo import sample_images
from piktid_prefect.emulator import FaultConfig
from tests.e2e.conftest import (
    CLI_TIMEOUT_SECONDS,
    CREDENTIALS_BLOCK,
    PrefectStack,
    save_credentials_block,
)
from tests.e2e.test_deployments import api, fast, trigger, wait_for

pytestmark = pytest.mark.e2e

INBOX = "piktid-process-new-images/piktid-inbox"
PEOPLE = "piktid-generate-people/piktid-people"
HOOK_BLOCK = "e2e-hook"
ACT_SECONDS = 90.0  # the server's triggers and actions services act within seconds


class Hook:
    """A loopback webhook that records what the notification block posts."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def hook() -> Iterator[Hook]:
    receiver = Hook()
    yield receiver
    receiver.server.shutdown()


def run_in(stack: PrefectStack, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), env=stack.env, capture_output=True, text=True, timeout=CLI_TIMEOUT_SECONDS
    )


def save_webhook_block(stack: PrefectStack, url: str) -> None:
    script = (
        "from prefect.blocks.notifications import CustomWebhookNotificationBlock\n"
        f"CustomWebhookNotificationBlock(name='e2e', url={url!r},"
        " json_data={'subject': '{{subject}}', 'body': '{{body}}'})"
        f".save({HOOK_BLOCK!r}, overwrite=True)\n"
    )
    done = run_in(stack, sys.executable, "-c", script)
    assert done.returncode == 0, done.stderr


def eventually(check: Any, what: str) -> Any:
    deadline = time.monotonic() + ACT_SECONDS
    while time.monotonic() < deadline:
        seen = check()
        if seen:
            return seen
        time.sleep(1.0)
    pytest.fail(f"{what} within {ACT_SECONDS:g} s")


def test_install_and_both_automations_act_on_real_runs(
    prefect_stack: PrefectStack, hook: Hook, tmp_path: Path
) -> None:
    emulator = prefect_stack.emulator
    # An account of its own: the session's server and its account serve other modules,
    # whose outputs this test's would otherwise turn into cache hits.
    account = emulator.create_account(credits=1_000)
    block = f"{CREDENTIALS_BLOCK}-automations"
    save_credentials_block(prefect_stack, account, block)
    save_webhook_block(prefect_stack, hook.url)
    installed = run_in(
        prefect_stack,
        *(sys.executable, "-m", "piktid_prefect.cli", "automations", "install"),
        *("--pause-deployment", INBOX, "--notify-block", f"custom-webhook/{HOOK_BLOCK}"),
    )
    again = run_in(  # idempotent: the same two automations, updated
        prefect_stack,
        *(sys.executable, "-m", "piktid_prefect.cli", "automations", "install"),
        *("--pause-deployment", INBOX, "--notify-block", f"custom-webhook/{HOOK_BLOCK}"),
    )
    image = next(str(p) for p in sample_images() if p.stem == "astronaut")
    try:
        with api(prefect_stack) as client:
            names = [a.name for a in client.read_automations()]
            assert not client.read_deployment_by_name(INBOX).paused

            def run_people(location: str, **parameters: Any) -> FlowRun:
                run = trigger(
                    client,
                    PEOPLE,
                    fast(
                        prefect_stack,
                        image=image,
                        keywords=[{"Location": location}],
                        out_dir=str(tmp_path / location),
                        credentials=block,
                        **parameters,
                    ),
                )
                (done,) = wait_for(client, run.id)
                return done

            # A run that leaves the balance (1,000) under its threshold: credits low.
            low = run_people("Oceania", low_credits_threshold=1_000_000)
            eventually(lambda: client.read_deployment_by_name(INBOX).paused, "inbox not paused")
            # A run whose every generation ends in an error notification.
            emulator.set_faults(FaultConfig(error_notification=1.0))
            try:
                failing = run_people("Africa", output_retries=0)
            finally:
                emulator.set_faults(FaultConfig())
            (note,) = eventually(lambda: list(hook.bodies), "no notification")
            inbox_runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(
                    id=DeploymentFilterId(any_=[client.read_deployment_by_name(INBOX).id])
                )
            )
    finally:
        with api(prefect_stack) as client:  # other tests share the server
            client.resume_deployment(client.read_deployment_by_name(INBOX).id)
            for automation in client.read_automations():
                client.delete_automation(automation.id)

    assert installed.returncode == 0 and again.returncode == 0, installed.stderr + again.stderr
    assert installed.stdout.count("installed: ") == 2
    assert sorted(names) == sorted(
        [
            CREDITS_LOW_AUTOMATION.format(deployment=INBOX),
            OUTPUTS_FAILED_AUTOMATION.format(block=f"custom-webhook/{HOOK_BLOCK}"),
        ]
    )
    assert low.state is not None and low.state.is_completed(), low.state
    assert inbox_runs == []  # paused, not run (what a re-install without `type` did)
    assert failing.state is not None and failing.state.is_failed(), failing.state
    assert note["subject"] == "PiktID: outputs failed"
    assert "1 of 1 outputs failed" in note["body"], note
    assert failing.name in note["body"]
