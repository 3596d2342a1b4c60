"""SuperID and consistent-identities calls send PiktID's wire shapes and read their answers.

The shapes are those of ``piktid/superid`` (``superid_api.py``) and ``piktid/swapid-person``
(``swapid/consistent_identities_api.py``); see ``docs/chain-api.md``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from piktid_prefect.wire.models import Account, Notification
from piktid_prefect.wire.models_chain import IdentitySwapJob, UpscaleJob, UpscaleUpload
from tests.client.conftest import SECRET_TOKEN, MockAPI, call, image_bytes, json_body, multipart

UPLOADED = httpx.Response(200, json={"id_project": "p-1", "id_image": "i-1"})
INFO = httpx.Response(200, json={"eta": 42, "required_credits": 0.25, "width": 320, "height": 240})
STARTED = httpx.Response(200, json={"status": "started"})
TARGET = httpx.Response(
    200,
    json={
        "image_id": "t-1",
        "faces": {
            "number_of_faces": 2,
            "coordinates_list": [{"centerX": 0.3}, {"centerX": 0.7}],
            "approved_faces": [1, 0],
        },
    },
)
UPLOAD = UpscaleUpload(id_project="p-1", id_image="i-1", width=320, height=240)


async def test_upscale_upload_sends_the_file_part_and_keeps_the_size(
    api: MockAPI, make_client: Any
) -> None:
    api.on("POST", "/superid/upload", UPLOADED)
    data = image_bytes("PNG", (320, 240))
    upload = await call(make_client().upscale_upload(data, filename="in.png"))
    (request,) = api.requests
    assert request.headers["Authorization"] == f"Bearer {SECRET_TOKEN}"
    assert multipart(request) == {"file": ("in.png", data)}
    assert (upload.project_id, upload.image_id) == ("p-1", "i-1")
    assert (upload.width, upload.height) == (320, 240)


async def test_an_image_url_is_fetched_without_credentials_and_uploaded(
    api: MockAPI, make_client: Any
) -> None:
    data = image_bytes("JPEG", (300, 200))
    api.on("GET", "/files/result.jpg", httpx.Response(200, content=data))
    api.on("POST", "/superid/upload", UPLOADED)
    upload = await call(make_client().upscale_upload("https://cdn.test/files/result.jpg"))
    fetch, send = api.requests
    assert "Authorization" not in fetch.headers
    assert multipart(send)["file"] == ("result.jpg", data)
    assert (upload.width, upload.height) == (300, 200)


async def test_superid_info_is_a_get_with_a_json_body_and_reads_fractional_credits(
    api: MockAPI, make_client: Any
) -> None:
    api.on("GET", "/superid_info", INFO)
    estimate = await call(make_client().superid_info(UPLOAD, 4))
    (request,) = api.requests
    assert json_body(request) == {
        "id_project": "p-1",
        "id_image": "i-1",
        "scale_factor": "4",
        "upscaling_mode": "normal",
        "strength": "0.35",
        "num_inference_steps": 20,
    }
    assert estimate.required_credits == 0.25
    assert estimate.eta_seconds == 42
    assert estimate.output_size(4) == (1280, 960)


async def test_start_upscale_sends_settings_at_top_level_and_flags_in_options(
    api: MockAPI, make_client: Any
) -> None:
    api.on("POST", "/superid/v2", STARTED)
    options = {"creativity": 7, "fidelity": 5, "denoise": 1, "seed": 9, "match_colors_flag": True}
    job = await call(make_client().start_upscale(UPLOAD, 2, prompt="a portrait", options=options))
    body = json_body(api.requests[0])
    assert json.loads(body.pop("options")) == {"match_colors_flag": True}
    assert body == {
        "id_project": "p-1",
        "id_image": "i-1",
        "scale_factor": "2",
        "flag_email": False,
        "output_format": "PNG",
        "creativity": 7,
        "fidelity": 5,
        "denoise": 1,
        "seed": 9,
        "prompt": "a portrait",
    }
    assert isinstance(job, UpscaleJob)
    assert (job.scale_factor, job.seed, job.fast, job.confirmed) == (2, 9, False, True)


async def test_fast_upscale_goes_to_superid_fast_with_seed_and_flags_only(
    api: MockAPI, make_client: Any
) -> None:
    api.on("POST", "/superid_fast", STARTED)
    options = {"seed": 4, "force_fixer": True}
    job = await call(
        make_client().start_upscale(UPLOAD, 4, fast=True, output_format="jpg", options=options)
    )
    body = json_body(api.requests[0])
    assert json.loads(body.pop("options")) == {"force_fixer": True}
    assert body["seed"] == 4 and body["output_format"] == "JPEG"
    assert job.fast and job.output_format == "JPEG"


async def test_identity_face_upload_sends_the_file_and_the_name(
    api: MockAPI, make_client: Any
) -> None:
    named = httpx.Response(200, json={"identity_name": "ada"})
    api.on("POST", "/consistent_identities/upload_face", named)
    data = image_bytes("PNG", (96, 96))
    name = await call(make_client().upload_face(data, identity_name="ada", filename="ada.png"))
    parts = multipart(api.requests[0])
    assert parts["file"] == ("ada.png", data)
    assert parts["identity_name"][1] == b"ada"
    assert name == "ada"


async def test_identity_target_upload_reads_faces_and_their_approval(
    api: MockAPI, make_client: Any
) -> None:
    api.on("POST", "/consistent_identities/upload_target", TARGET)
    target = await call(
        make_client().upload_identity_target(image_bytes(), options={"flag_hair": True})
    )
    assert json.loads(multipart(api.requests[0])["options"][1]) == {"flag_hair": True}
    assert target.image_id == "t-1"
    assert [face.id for face in target.faces] == [0, 1]
    assert target.approved_face_ids == [0]
    assert target.faces[1].center_x == 0.7


async def test_identity_swap_sends_json_with_options_as_a_json_string(
    api: MockAPI, make_client: Any
) -> None:
    api.on("POST", "/consistent_identities/generate", STARTED)
    options = {"seed": 5, "prompt_strength": 0.6, "transfer_hair": True}
    job = await call(
        make_client().start_identity_swap("t-1", 0, "ada", options=options, prompt="smiling")
    )
    body = json_body(api.requests[0])
    assert json.loads(body.pop("options")) == {
        "flag_replace_and_download": True,
        "prompt_strength": 0.6,
        "seed": 5,
        "transfer_hair": True,
    }
    assert body == {
        "id_image": "t-1",
        "id_face": 0,
        "identity_name": "ada",
        "prompt": "smiling",
        "description_type": "txt",
    }
    assert isinstance(job, IdentitySwapJob) and job.seed == 5 and job.face_id == 0


async def test_identity_notifications_use_the_products_own_read_and_delete(
    api: MockAPI, make_client: Any
) -> None:
    note = {"id": 7, "name": "download", "timestamp": 1, "data": {"id_image": "t-1", "f": 0}}
    api.on(
        "POST",
        "/consistent_identities/notification/read",
        httpx.Response(200, json={"notifications_list": [note]}),
    )
    api.on("DELETE", "/consistent_identities/notification/delete", httpx.Response(404))
    client = make_client()
    (found,) = await call(client.identity_notifications(image_id="t-1"))
    await call(client.delete_identity_notification(found.id))  # already gone is fine
    read, delete = api.requests
    assert json_body(read) == {"name_list": "download,error", "id_image": "t-1"}
    assert json_body(delete) == {"id": 7}


def test_result_links_of_each_product_are_found() -> None:
    superid = Notification(id=1, name="superid", data={"link": {"l": "https://x/a.png"}})
    swap = Notification(id=2, name="download", data={"link_hd": "https://x/b.jpg"})
    edit = Notification(id=3, name="edit_generate", data={"links": [{"l": "https://x/c"}]})
    bare = Notification(id=4, name="superid", data={})
    assert [n.result_link.url for n in (superid, swap, edit) if n.result_link] == [
        "https://x/a.png",
        "https://x/b.jpg",
        "https://x/c",
    ]
    assert bare.result_link is None


def test_jobs_match_their_own_notifications_only() -> None:
    upscale = UpscaleJob(project_id="p-1", image_id="i-1", scale_factor=2)
    mine = Notification(id=1, name="superid", data={"id_image": "i-1", "id_project": "p-1"})
    other_project = Notification(id=2, name="superid", data={"id_image": "i-1", "id_project": "p"})
    failed = Notification(id=3, name="error", data={"id_image": "i-1", "msg": "boom"})
    assert upscale.matches(mine) and upscale.matches(failed)
    assert not upscale.matches(other_project)
    swap = IdentitySwapJob(image_id="t-1", face_id=1, identity_name="ada")
    face_1 = Notification(id=4, name="download", data={"id_image": "t-1", "f": 1})
    face_0 = Notification(id=5, name="download", data={"id_image": "t-1", "f": 0})
    newest_shape = Notification(id=6, name="download", data={"id_image": "t-1"})
    assert swap.matches(face_1) and swap.matches(newest_shape)
    assert not swap.matches(face_0) and not swap.matches(mine)


@pytest.mark.parametrize(("wire", "credits"), [(10, 10), (9.75, 9.75), ("0.25", 0.25)])
def test_account_credits_may_be_fractional_or_text(wire: Any, credits: float) -> None:
    assert Account.model_validate({"credits": wire}).credits == credits


async def test_request_bodies_never_carry_the_token(api: MockAPI, make_client: Any) -> None:
    api.on("POST", "*", STARTED)
    client = make_client()
    await call(client.start_upscale(UPLOAD))
    await call(client.start_identity_swap("t-1", 0, "ada"))
    assert len(api.requests) == 2
    assert all(SECRET_TOKEN.encode() not in r.content for r in api.requests)
