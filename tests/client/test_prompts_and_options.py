"""Prompt-only persons and options this version does not know, as PiktID's own clients send them.

PiktID's swapid client starts ``/edit/generate`` with a ``prompt`` and no ``keyword``, and
adds ``ip_scale`` to the options when a reference image is given; its other clients send
``eraseid_gpu``. The client must send such requests, and still refuse what is a mistake.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from piktid_prefect.wire.errors import InvalidKeyword, InvalidOptions
from piktid_prefect.wire.models import GenerationJob, Notification, PersonOptions
from tests.client.conftest import MockAPI, call, json_body, multipart

OK = httpx.Response(200, json={"status": "ok"})


async def test_person_generation_with_only_a_prompt_sends_no_keyword(
    api: MockAPI, make_client: Any
) -> None:
    api.on("POST", "/edit/generate", OK)
    client = make_client()
    job = await call(
        client.generate_person("img-1", 0, prompt="a woman in a red dress", options={"seed": 3})
    )
    (request,) = api.requests
    assert json_body(request) == {
        "category": "person",
        "id_image": "img-1",
        "id_person": 0,
        "prompt": "a woman in a red dress",
        "options": '{"seed": 3}',
    }
    assert job.keyword == {}
    assert job.prompt == "a woman in a red dress"
    assert "prompt='a woman in a red dress'" in job.label


async def test_person_generation_with_keyword_and_prompt_sends_both(
    api: MockAPI, make_client: Any
) -> None:
    api.on("POST", "/edit/generate", OK)
    client = make_client()
    await call(client.generate_person("img-1", 1, {"location": "Oceania"}, prompt="smiling"))
    body = json_body(api.requests[0])
    assert json.loads(body["keyword"]) == {"Location": "Oceania"}
    assert body["prompt"] == "smiling"


@pytest.mark.parametrize("prompt", [None, "", "   "])
async def test_person_generation_without_keyword_or_prompt_is_refused_unsent(
    api: MockAPI, make_client: Any, prompt: str | None
) -> None:
    client = make_client()
    with pytest.raises(InvalidKeyword, match=r"keyword .* or a non-empty prompt"):
        await call(client.generate_person("img-1", 0, prompt=prompt))
    with pytest.raises(InvalidKeyword, match="must be text"):
        await call(client.generate_person("img-1", 0, prompt=["a", "list"]))  # type: ignore[arg-type]
    assert api.requests == []


async def test_unknown_options_travel_to_the_api_as_given(
    api: MockAPI, make_client: Any, png: bytes
) -> None:
    api.on("POST", "/edit/generate", OK)
    api.on("POST", "/edit/background", OK)
    api.on(
        "POST", "/edit/target", httpx.Response(200, json={"id_image": "i", "coordinates_list": []})
    )
    client = make_client()
    await call(
        client.generate_person(
            "img-1",
            0,
            prompt="x",
            options={"seed": 3, "reference_name": "ref", "ip_scale": 1, "flag_watermark": 0},
        )
    )
    await call(client.edit_background("img-1", prompt="x", options={"eraseid_gpu": True}))
    await call(client.upload_target(png, options={"eraseid_gpu": True}))
    person, background, upload = api.requests
    assert json.loads(json_body(person)["options"]) == {
        "seed": 3,
        "reference_name": "ref",
        "ip_scale": 1,
        "flag_watermark": 0,
    }
    assert json.loads(json_body(background)["options"]) == {"eraseid_gpu": True}
    assert json.loads(multipart(upload)["options"][1]) == {"eraseid_gpu": True}


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"ip_scale": 1, "strength": 1.5}, "strength"),  # a known option is still range-checked
        ({"Seed": 3}, "did you mean 'seed'"),  # PiktID would ignore it: a lost seed
        ({"guidance-scale": 3}, "did you mean 'guidance_scale'"),
        ({"controlnetScale": 1}, "did you mean 'controlnet_scale'"),
        ({"ip_scale": object()}, "must be a JSON value"),
        ({"ip_scale": float("inf")}, "finite"),
    ],
)
async def test_mistaken_options_are_refused_before_any_credit(
    api: MockAPI, make_client: Any, options: dict[str, Any], match: str
) -> None:
    client = make_client()
    with pytest.raises(InvalidOptions, match=match):
        await call(client.generate_person("img-1", 0, {"Location": "Oceania"}, options=options))
    assert api.requests == []


def test_each_unknown_option_is_logged_once_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="piktid_prefect.wire.options")
    for _ in range(3):
        PersonOptions.coerce({"ip_scale_once_test": 1, "seed": 1})
    records = [r for r in caplog.records if "ip_scale_once_test" in r.getMessage()]
    assert len(records) == 1
    assert records[0].levelno == logging.DEBUG
    assert "sent to PiktID as is" in records[0].getMessage()


def test_an_unknown_option_close_to_a_known_one_is_sent_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="piktid_prefect.wire.options")
    options = PersonOptions.coerce({"strenght": 0.5})
    assert json.loads(options.to_wire()) == {"strenght": 0.5}
    assert options.unknown == {"strenght": 0.5}
    (record,) = [r for r in caplog.records if "strenght" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "Did you mean 'strength'" in record.getMessage()


def test_a_notification_with_another_prompt_is_not_this_jobs() -> None:
    job = GenerationJob(kind="person", image_id="img", person_id=0, prompt="a red dress")
    data = {"address": "img", "id_person": 0}
    assert job.matches(Notification(id=1, name="edit_generate", data=data))
    same = {**data, "prompt": "a red dress"}
    assert job.matches(Notification(id=2, name="edit_generate", data=same))
    other = {**data, "prompt": "a blue suit"}
    assert not job.matches(Notification(id=3, name="edit_generate", data=other))
    # A job without a prompt is not ruled out by whatever prompt the server echoes.
    keyword_job = GenerationJob(
        kind="person", image_id="img", person_id=0, keyword={"Location": "Oceania"}
    )
    assert keyword_job.matches(Notification(id=4, name="edit_generate", data=other))
