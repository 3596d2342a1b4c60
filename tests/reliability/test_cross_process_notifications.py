"""Two processes, one account, one output: the later start never takes the earlier's
notification, even when that one's delete failed (issue 22: several workers on one
account make failed deletes routine)."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

from piktid_prefect.credentials import PiktidCredentials
from piktid_prefect.emulator.config import FaultConfig
from piktid_prefect.runtime import generation as logic
from piktid_prefect.runtime.results import GenerationSpec, UploadedImage

OCEANIA = {"Location": "Oceania"}
DELETE = "/notification/delete_json"


def generate_in_this_process(
    account: dict[str, Any], image: str, spec: str, timeout_seconds: float, go: Any, out: str
) -> None:
    """A worker: waits for ``go``, then makes one output, and writes what it got."""
    credentials = PiktidCredentials(**account)
    go.wait(120)
    result = logic.generate(
        credentials,
        UploadedImage.model_validate_json(image),
        GenerationSpec.model_validate_json(spec),
        timeout_seconds=timeout_seconds,
    )
    Path(out).write_text(json.dumps({"link": result.link, "started_at": result.job.started_at}))


def listed_links(credentials: PiktidCredentials) -> list[str]:
    with credentials.get_client() as client:
        return [link.url for n in client.notifications() for link in n.links]


def test_a_later_process_never_takes_an_earlier_process_notification_whose_delete_failed(
    credentials, piktid_emulator, piktid_account, samples, tmp_path, time_scale
) -> None:
    image = logic.upload(credentials, str(samples["astronaut"]))  # one image id for both
    spec = GenerationSpec(kind="person", person_id=0, keyword=OCEANIA, options={"seed": 7})
    account = {
        "base_url": credentials.base_url,
        "email": piktid_account.email,
        "password": piktid_account.password,
        "poll_interval_seconds": credentials.poll_interval_seconds,
    }
    spawn = multiprocessing.get_context("spawn")
    go_first, go_second = spawn.Event(), spawn.Event()
    outs = [tmp_path / "first.json", tmp_path / "second.json"]
    workers = [
        spawn.Process(
            target=generate_in_this_process,
            args=(
                account,
                image.model_dump_json(),
                spec.model_dump_json(),
                600 * time_scale,
                go,
                str(out),
            ),
        )
        for go, out in zip((go_first, go_second), outs, strict=True)
    ]
    for worker in workers:
        worker.start()  # both import now: the second starts right after the first ends
    try:
        piktid_emulator.set_faults(FaultConfig(http_500=1.0, endpoints=(DELETE,)))
        go_first.set()
        workers[0].join(timeout=120)
        assert workers[0].exitcode == 0
        first = json.loads(outs[0].read_text())
        # The first process took its result; its delete failed: still listed (600 s).
        assert first["link"] in listed_links(credentials)
        piktid_emulator.set_faults(FaultConfig())

        go_second.set()
        workers[1].join(timeout=120)
        assert workers[1].exitcode == 0
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
    second = json.loads(outs[1].read_text())
    assert second["started_at"] > first["started_at"]
    # Its own result, not the first process's leftover: both starts paid, each got its own.
    assert second["link"] != first["link"]
    stats = piktid_emulator.stats(piktid_account.email)
    assert stats.credits_charged == 2
