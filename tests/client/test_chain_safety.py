"""The chained products' starts follow the rules of the others: checked before paying,
never re-sent once they may have arrived; uploads and reads are retried like any safe call."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from piktid_prefect.wire import _retry
from piktid_prefect.wire.errors import (
    BadRequest,
    GenerationStartUnconfirmed,
    InvalidInput,
    InvalidOptions,
    InvalidPerson,
    UnsupportedImage,
    is_transient,
)
from piktid_prefect.wire.models_chain import IdentitySwapJob, UpscaleJob, UpscaleUpload
from tests.client.conftest import SECRET_TOKEN, MockAPI, call, image_bytes

UPLOAD = UpscaleUpload(id_project="p-1", id_image="i-1", width=320, height=240)
STARTED = httpx.Response(200, json={"status": "started"})


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    async def asleep(seconds: float) -> None:
        return None

    monkeypatch.setattr(_retry, "_sleep", lambda seconds: None)
    monkeypatch.setattr(_retry, "_asleep", asleep)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"scale_factor": 3}, InvalidOptions),
        ({"scale_factor": True}, InvalidOptions),
        ({"output_format": "GIF"}, InvalidOptions),
        ({"options": {"creativity": 21}}, InvalidOptions),
        ({"options": {"fidelity": -1}}, InvalidOptions),
        ({"options": {"Seed": 3}}, InvalidOptions),
        ({"fast": True, "options": {"creativity": 5}}, InvalidOptions),
        ({"fast": True, "prompt": "a face"}, InvalidOptions),
    ],
)
async def test_a_bad_upscale_is_refused_before_anything_is_sent(
    api: MockAPI, make_client: Any, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        await call(make_client().start_upscale(UPLOAD, **kwargs))
    assert api.requests == []


@pytest.mark.parametrize(("size", "scale"), [((63, 400), 2), ((2100, 1000), 4), ((4097, 300), 2)])
async def test_sizes_superid_refuses_are_refused_before_paying(
    api: MockAPI, make_client: Any, size: tuple[int, int], scale: int
) -> None:
    api.on(
        "POST", "/superid/upload", httpx.Response(200, json={"id_project": "p", "id_image": "i"})
    )
    client = make_client()
    upload = await call(client.upscale_upload(image_bytes("PNG", size)))
    with pytest.raises(UnsupportedImage):
        await call(client.start_upscale(upload, scale))
    assert len(api.requests) == 1  # the free upload only


async def test_the_size_from_superid_info_guards_a_url_upload_too(
    api: MockAPI, make_client: Any
) -> None:
    info = {"eta": 1, "required_credits": 1, "width": 3000, "height": 2000}
    api.on("GET", "/superid_info", httpx.Response(200, json=info))
    client = make_client()
    sizeless = UpscaleUpload(id_project="p-1", id_image="i-1")
    await call(client.superid_info(sizeless, 2))
    with pytest.raises(UnsupportedImage):
        await call(client.start_upscale(sizeless, 4))
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        (("t-1", -1, "ada"), {}, InvalidPerson),
        (("t-1", True, "ada"), {}, InvalidPerson),
        (("t-1", 0, " "), {}, InvalidInput),
        (("", 0, "ada"), {}, InvalidInput),
        (("t-1", 0, "ada"), {"options": {"prompt_strength": 1.5}}, InvalidOptions),
        (("t-1", 0, "ada"), {"options": {"seed": -2}}, InvalidOptions),
    ],
)
async def test_a_bad_identity_swap_is_refused_before_anything_is_sent(
    api: MockAPI, make_client: Any, args: tuple[Any, ...], kwargs: dict[str, Any], error: type
) -> None:
    with pytest.raises(error):
        await call(make_client().start_identity_swap(*args, **kwargs))
    assert api.requests == []


async def test_a_face_the_target_upload_did_not_approve_is_refused_before_paying(
    api: MockAPI, make_client: Any
) -> None:
    faces = {"coordinates_list": [{}, {}], "approved_faces": [0, 1]}
    answer = httpx.Response(200, json={"image_id": "t-1", "faces": faces})
    api.on("POST", "/consistent_identities/upload_target", answer)
    client = make_client()
    await call(client.upload_identity_target(image_bytes()))
    for face_id in (0, 2):
        with pytest.raises(InvalidPerson):
            await call(client.start_identity_swap("t-1", face_id, "ada"))
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    "lost",
    [
        httpx.ReadTimeout("no answer"),
        httpx.RemoteProtocolError("server disconnected"),
        httpx.Response(500, json={}),
        httpx.Response(502, text="bad gateway"),
        httpx.Response(504, text="gateway timeout"),
    ],
    ids=lambda x: type(x).__name__ if isinstance(x, Exception) else f"HTTP{x.status_code}",
)
@pytest.mark.parametrize("product", ["upscale", "fast", "swap"])
async def test_a_start_whose_answer_is_lost_is_never_resent_and_reports_its_job(
    api: MockAPI, make_client: Any, no_sleep: None, lost: Any, product: str
) -> None:
    for path in ("/superid/v2", "/superid_fast", "/consistent_identities/generate"):
        api.on("POST", path, lost)
    client = make_client()
    with pytest.raises(GenerationStartUnconfirmed) as info:
        if product == "swap":
            await call(client.start_identity_swap("t-1", 0, "ada", options={"seed": 1}))
        else:
            await call(client.start_upscale(UPLOAD, fast=product == "fast"))
    assert len(api.requests) == 1
    job = info.value.job
    assert isinstance(job, IdentitySwapJob if product == "swap" else UpscaleJob)
    assert job.confirmed is False
    assert not is_transient(info.value)


@pytest.mark.parametrize("status", [429, 503])
async def test_a_start_the_server_did_not_process_is_retried(
    api: MockAPI, make_client: Any, no_sleep: None, status: int
) -> None:
    api.on("POST", "/superid/v2", httpx.Response(status, json={}), STARTED)
    job = await call(make_client().start_upscale(UPLOAD))
    assert job.confirmed and len(api.requests) == 2


@pytest.mark.parametrize(
    ("method", "path", "answer", "invoke"),
    [
        (
            "POST",
            "/superid/upload",
            {"id_project": "p", "id_image": "i"},
            lambda c: c.upscale_upload(image_bytes("PNG", (80, 80))),
        ),
        (
            "GET",
            "/superid_info",
            {"eta": 1, "required_credits": 0.25, "width": 80, "height": 80},
            lambda c: c.superid_info(UPLOAD),
        ),
        (
            "POST",
            "/consistent_identities/upload_face",
            {"identity_name": "x"},
            lambda c: c.upload_face(image_bytes()),
        ),
        (
            "POST",
            "/consistent_identities/notification/read",
            {"notifications_list": []},
            lambda c: c.identity_notifications(),
        ),
    ],
    ids=["superid-upload", "superid-info", "upload-face", "identity-read"],
)
async def test_uploads_and_reads_are_retried_after_a_lost_answer(
    api: MockAPI,
    make_client: Any,
    no_sleep: None,
    method: str,
    path: str,
    answer: dict[str, Any],
    invoke: Any,
) -> None:
    api.on(
        method,
        path,
        httpx.ReadTimeout("lost"),
        httpx.Response(502),
        httpx.Response(200, json=answer),
    )
    await call(invoke(make_client()))
    assert len(api.requests) == 3


async def test_a_server_message_echoing_the_token_is_masked_in_the_error(
    api: MockAPI, make_client: Any
) -> None:
    echo = httpx.Response(400, json={"message": f"bad request from Bearer {SECRET_TOKEN}"})
    api.on("POST", "/consistent_identities/generate", echo)
    with pytest.raises(BadRequest) as info:
        await call(make_client().start_identity_swap("t-1", 0, "ada"))
    assert SECRET_TOKEN not in str(info.value)
    assert "/consistent_identities/generate" in str(info.value)
