"""Every endpoint sends exactly the wire shape PiktID expects, and reads its answers."""

from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from piktid_prefect.wire.models import Account, GenerationJob, PersonOptions
from tests.client.conftest import (
    SECRET_TOKEN,
    MockAPI,
    call,
    json_body,
    multipart,
    upload_answer,
)

OK = httpx.Response(200, json={"status": "ok"})


async def test_upload_target_sends_multipart_file_and_options_as_json_string(
    api: MockAPI, make_client: Any, png: bytes
) -> None:
    api.on("POST", "/edit/target", upload_answer())
    client = make_client()
    result = await call(
        client.upload_target(png, options={"flag_detection": True}, filename="me.png")
    )
    (request,) = api.requests
    assert request.headers["Authorization"] == f"Bearer {SECRET_TOKEN}"
    parts = multipart(request)
    assert parts["file"] == ("me.png", png)
    assert json.loads(parts["options"][1]) == {"flag_detection": True}
    assert result.image_id == "img-1"
    assert result.approved_person_ids == [0]


async def test_upload_target_from_path_and_file_object_use_the_file_name(
    api: MockAPI, make_client: Any, png: bytes, tmp_path: Any
) -> None:
    api.on("POST", "/edit/target", upload_answer())
    path = tmp_path / "portrait.png"
    path.write_bytes(png)
    client = make_client()
    await call(client.upload_target(path))
    with path.open("rb") as handle:
        await call(client.upload_target(handle))
    await call(client.upload_target(io.BytesIO(png)))
    names = [multipart(r)["file"][0] for r in api.requests]
    assert names == ["portrait.png", "portrait.png", "image.png"]
    assert all(json.loads(multipart(r)["options"][1]) == {} for r in api.requests)


async def test_upload_by_url_sends_a_form_with_url_and_options(
    api: MockAPI, make_client: Any
) -> None:
    api.on("POST", "/edit/target", upload_answer())
    client = make_client()
    await call(client.upload_target("https://images.example/a.png"))
    (request,) = api.requests
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = parse_qs(request.content.decode())
    assert form == {"url": ["https://images.example/a.png"], "options": ["{}"]}


async def test_upload_answer_with_image_id_key_is_understood(
    api: MockAPI, make_client: Any, png: bytes
) -> None:
    api.on("POST", "/edit/target", httpx.Response(200, json={"image_id": "abc", "extra": 1}))
    result = await call(make_client().upload_target(png))
    assert result.image_id == "abc"
    assert result.persons == ()


async def test_upload_reference_sends_the_reference_part(
    api: MockAPI, make_client: Any, png: bytes
) -> None:
    api.on("POST", "/edit/reference", httpx.Response(200, json={"reference_name": "0OqU"}))
    name = await call(make_client().upload_reference(png))
    assert name == "0OqU"
    assert multipart(api.requests[0])["reference"][1] == png


async def test_generate_person_sends_json_with_encoded_keyword_and_int_person(
    api: MockAPI, make_client: Any
) -> None:
    api.on("POST", "/edit/generate", OK)
    job = await call(
        make_client().generate_person(
            "img-1",
            2,
            {"location": "Oceania"},
            options=PersonOptions(seed=7, strength=0.5),
            prompt="smiling",
        )
    )
    body = json_body(api.requests[0])
    assert body == {
        "id_image": "img-1",
        "id_person": 2,
        "keyword": '{"Location": "Oceania"}',
        "category": "person",
        "prompt": "smiling",
        "options": '{"seed": 7, "strength": 0.5}',
    }
    assert isinstance(job, GenerationJob)
    assert (job.kind, job.person_id, job.seed, job.confirmed) == ("person", 2, 7, True)
    assert job.keyword == {"Location": "Oceania"}


async def test_edit_background_sends_keyword_prompt_and_options_strings(
    api: MockAPI, make_client: Any
) -> None:
    api.on("POST", "/edit/background", OK)
    client = make_client()
    job = await call(
        client.edit_background(
            "img-1", {"indoor_spaces": "Office"}, options={"relight_strength": 1.0}
        )
    )
    await call(client.edit_background("img-1", prompt="a red wall"))
    first, second = (json_body(r) for r in api.requests)
    assert first == {
        "id_image": "img-1",
        "keyword": '{"indoor_spaces": "Office"}',
        "prompt": "",
        "options": '{"relight_strength": 1.0}',
    }
    assert second == {"id_image": "img-1", "prompt": "a red wall", "options": "{}"}
    assert job.kind == "background"
    assert job.notification_name == "edit_background"


async def test_notifications_send_a_comma_string_and_parse_the_list(
    api: MockAPI, make_client: Any
) -> None:
    entry = {
        "id": 5,
        "name": "edit_generate",
        "timestamp": 1.5,
        "data": {"address": "img-1", "id_person": 0, "links": [{"l": "https://x/y.jpg"}]},
    }
    api.on(
        "POST",
        "/notification_by_name_json",
        httpx.Response(200, json={"notifications_list": [entry, {"name": "malformed, no id"}]}),
    )
    client = make_client()
    notes = await call(client.notifications(["edit_generate", "error"], image_id="img-1"))
    assert json_body(api.requests[0]) == {"name_list": "edit_generate,error", "id_image": "img-1"}
    assert [n.id for n in notes] == [5]
    assert notes[0].links[0].url == "https://x/y.jpg"


async def test_notifications_default_names_and_missing_list_is_empty(
    api: MockAPI, make_client: Any
) -> None:
    api.on("POST", "/notification_by_name_json", httpx.Response(200, json={}))
    assert await call(make_client().notifications()) == []
    assert json_body(api.requests[0]) == {"name_list": "edit_generate,edit_background,error"}


async def test_delete_notification_sends_delete_with_json_id(
    api: MockAPI, make_client: Any
) -> None:
    api.on("DELETE", "/notification/delete_json", httpx.Response(200, text="deleted"))
    assert await call(make_client().delete_notification(5)) is None
    assert json_body(api.requests[0]) == {"id": 5}


async def test_deleting_an_already_expired_notification_is_not_an_error(
    api: MockAPI, make_client: Any
) -> None:
    api.on("DELETE", "/notification/delete_json", httpx.Response(404, json={"message": "gone"}))
    assert await call(make_client().delete_notification(5)) is None


async def test_me_returns_the_account(api: MockAPI, make_client: Any) -> None:
    api.on(
        "GET",
        "/me",
        httpx.Response(
            200, json={"email": "a@b.c", "credits": "12", "username": "ab", "verified": True}
        ),
    )
    account = await call(make_client().me())
    assert isinstance(account, Account)
    assert account.credits == 12
    assert account.email == "a@b.c"


async def test_requests_carry_explicit_timeouts_never_the_implicit_five_seconds(
    api: MockAPI, make_client: Any, png: bytes
) -> None:
    api.on("GET", "/me", httpx.Response(200, json={}))
    api.on("POST", "/edit/target", upload_answer())
    client = make_client()
    await call(client.me())
    await call(client.upload_target(png))
    me, upload = api.requests
    assert me.extensions["timeout"] == {"connect": 10.0, "read": 60.0, "write": 60.0, "pool": 60.0}
    assert upload.extensions["timeout"]["read"] == 120.0


async def test_repr_shows_base_url_and_auth_kind_only(make_client: Any) -> None:
    client = make_client()
    assert repr(client).endswith("(base_url='https://api.test/api', auth='token')")
    other = make_client(email="me@example.com", password="pw-xyz-secret")
    assert "auth='password'" in repr(other)
    assert "pw-xyz-secret" not in repr(other)


async def test_account_key_is_stable_secret_free_and_per_account(make_client: Any) -> None:
    a = make_client(email="me@example.com", password="one")
    b = make_client(email="me@example.com", password="two")
    c = make_client(email="you@example.com", password="one")
    assert a.account_key == b.account_key != c.account_key
    assert len(a.account_key) == 16
    token_client = make_client()
    assert SECRET_TOKEN not in token_client.account_key


async def test_clients_are_context_managers(flavour: str, api: MockAPI) -> None:
    from piktid_prefect.wire.client import AsyncPiktidClient, PiktidClient

    transport = httpx.MockTransport(api)
    if flavour == "sync":
        with PiktidClient(access_token="t", transport=transport) as client:
            assert client.base_url == "https://api.piktid.com/api"
    else:
        async with AsyncPiktidClient(access_token="t", transport=transport) as aclient:
            assert aclient.base_url == "https://api.piktid.com/api"


@pytest.mark.parametrize("status", [200, 201, 202])
async def test_start_accepts_any_2xx_and_ignores_the_body(
    api: MockAPI, make_client: Any, status: int
) -> None:
    api.on("POST", "/edit/generate", httpx.Response(status, text="queued, not json"))
    job = await call(make_client().generate_person("img-1", 0, {"Location": "Africa"}))
    assert job.confirmed
