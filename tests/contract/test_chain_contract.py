"""The chain, client against the real emulator: an edit's result link upscaled and face-swapped,
with no local file in between, sync and async alike."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from piktid_prefect.emulator import EmulatorAccount, EmulatorServer, FaultConfig
from piktid_prefect.wire.client import UPSCALE_NOTIFICATION_NAMES
from piktid_prefect.wire.errors import GenerationStartUnconfirmed, InvalidPerson
from piktid_prefect.wire.models import Notification
from piktid_prefect.wire.models_chain import IdentitySwapJob, UpscaleJob
from tests.contract.conftest import call, wait_for

SAMPLES = resources.files("piktid_prefect") / "samples"
PORTRAIT = Path(str(SAMPLES / "grace_hopper.jpg"))
ASTRONAUT = Path(str(SAMPLES / "astronaut.jpg"))

Job = UpscaleJob | IdentitySwapJob


async def wait_chained(
    read: Callable[[], Any], delete: Callable[[int], Any], job: Job, timeout_seconds: float = 15.0
) -> Notification:
    """Poll ``read`` until ``job``'s notification (or its error) arrives; delete it."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        for note in await call(read()):
            if job.matches(note):
                await call(delete(note.id))
                return note
        await asyncio.sleep(0.05)
    raise AssertionError(f"no notification for {job.label}")


async def edit_result_link(client: Any) -> str:
    upload = await call(client.upload_target(PORTRAIT))
    job = await call(client.generate_person(upload.image_id, 0, {"Location": "Oceania"}))
    note = await wait_for(client, job)
    assert note.result_link is not None
    return note.result_link.url


def size_of(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


async def test_an_edit_result_link_is_upscaled_x2_for_a_quarter_credit(
    make_client: Any, piktid_emulator: EmulatorServer, piktid_account: EmulatorAccount
) -> None:
    client = make_client()
    link = await edit_result_link(client)
    upload = await call(client.upscale_upload(link))
    estimate = await call(client.superid_info(upload, 2))
    assert estimate.required_credits == 0.25
    assert (upload.width, upload.height) == (estimate.width, estimate.height) == (512, 600)
    job = await call(client.start_upscale(upload, 2, options={"seed": 1, "creativity": 7}))

    def read() -> Awaitable[list[Notification]] | list[Notification]:
        return client.notifications(UPSCALE_NOTIFICATION_NAMES, image_id=job.image_id)

    note = await wait_chained(read, client.delete_notification, job)
    assert note.name == "superid"
    assert note.result_link is not None
    assert size_of(await call(client.download(note.result_link))) == (1024, 1200)
    assert (await call(client.me())).credits == 10_000 - 1 - 0.25
    charged = piktid_emulator.stats(piktid_account.email).credits_charged_by_endpoint
    assert charged == {"/edit/generate": 1, "/superid/v2": 0.25}


async def test_an_identity_is_swapped_onto_an_edit_result_link(
    make_client: Any, piktid_emulator: EmulatorServer, piktid_account: EmulatorAccount
) -> None:
    client = make_client()
    link = await edit_result_link(client)
    name = await call(client.upload_face(ASTRONAUT, identity_name="astro"))
    target = await call(client.upload_identity_target(link))
    assert target.approved_face_ids == [0]
    job = await call(client.start_identity_swap(target.image_id, 0, name, options={"seed": 2}))
    read = lambda: client.identity_notifications(image_id=job.image_id)  # noqa: E731
    note = await wait_chained(read, client.delete_identity_notification, job)
    assert note.name == "download" and note.data["f"] == 0
    assert note.result_link is not None
    assert size_of(await call(client.download(note.result_link))) == (512, 600)
    charged = piktid_emulator.stats(piktid_account.email).credits_charged_by_endpoint
    assert charged == {"/edit/generate": 1, "/consistent_identities/generate": 1}


async def test_a_face_the_target_has_not_is_refused_before_paying(
    make_client: Any, piktid_emulator: EmulatorServer, piktid_account: EmulatorAccount
) -> None:
    client = make_client()
    name = await call(client.upload_face(PORTRAIT))
    target = await call(client.upload_identity_target(ASTRONAUT))
    with pytest.raises(InvalidPerson):
        await call(client.start_identity_swap(target.image_id, 3, name))
    stats = piktid_emulator.stats(piktid_account.email)
    assert "POST /consistent_identities/generate" not in stats.requests
    assert stats.credits_charged == 0


@pytest.mark.parametrize("product", ["upscale", "swap"])
async def test_a_lost_start_answer_is_unconfirmed_then_settled_by_its_notification(
    make_client: Any,
    piktid_emulator: EmulatorServer,
    piktid_account: EmulatorAccount,
    product: str,
) -> None:
    client = make_client()
    path = "/superid/v2" if product == "upscale" else "/consistent_identities/generate"
    if product == "upscale":
        upload = await call(client.upscale_upload(ASTRONAUT))
        start: Callable[[], Any] = lambda: client.start_upscale(upload)  # noqa: E731
        read = lambda: client.notifications(UPSCALE_NOTIFICATION_NAMES)  # noqa: E731
        delete = client.delete_notification
    else:
        name = await call(client.upload_face(PORTRAIT))
        target = await call(client.upload_identity_target(ASTRONAUT))
        start = lambda: client.start_identity_swap(target.image_id, 0, name)  # noqa: E731
        read, delete = client.identity_notifications, client.delete_identity_notification
    piktid_emulator.set_faults(FaultConfig(lose_response_after_start=1.0, endpoints=(path,)))
    with pytest.raises(GenerationStartUnconfirmed) as info:
        await call(start())
    piktid_emulator.set_faults(FaultConfig())
    job = info.value.job
    assert isinstance(job, UpscaleJob if product == "upscale" else IdentitySwapJob)
    assert job.confirmed is False
    note = await wait_chained(read, delete, job)
    assert note.result_link is not None
    stats = piktid_emulator.stats(piktid_account.email)
    assert stats.requests[f"POST {path}"] == 1  # never re-sent
    assert stats.credits_charged_by_endpoint == {path: 0.25 if product == "upscale" else 1}
