"""Prompt-only persons, options the emulator does not type, and URL uploads it refuses."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx

from .conftest import Api, sample_bytes


def _person(api: Api, image_id: str, **body: Any) -> httpx.Response:
    return api.http.post(
        "/edit/generate", json={"category": "person", "id_image": image_id, "id_person": 0, **body}
    )


def _result(api: Api) -> tuple[dict[str, Any], bytes]:
    """The only pending result of ``api``'s account: its data and its picture (deleted)."""
    (note,) = api.wait_for(1)
    api.http.request("DELETE", "/notification/delete_json", json={"id": note["id"]})
    return note["data"], api.download(note["data"]["links"][0]["l"])


def test_a_prompt_without_keyword_starts_a_person_generation(api: Api) -> None:
    image_id = api.upload_id()
    response = _person(
        api, image_id, prompt="a woman in a red dress", options=json.dumps({"seed": 3})
    )
    assert response.status_code == 200, response.text
    data, picture = _result(api)
    assert data["address"] == image_id and data["id_person"] == 0
    assert data["prompt"] == "a woman in a red dress"
    assert "keyword" not in data
    assert picture[:3] == b"\xff\xd8\xff"
    (record,) = api.emulator.stats(api.account.email).generations
    assert record.key.prompt == "a woman in a red dress" and record.key.keyword is None


def test_the_prompt_shapes_the_person_deterministically(api: Api) -> None:
    image_id = api.upload_id()
    keyword = json.dumps({"Location": "Oceania"})
    asks = [
        {"prompt": "a woman in a red dress"},
        {"prompt": "a woman in a red dress"},
        {"prompt": "a man in a blue suit"},
        {"keyword": keyword},
        {"keyword": keyword, "prompt": "a man in a blue suit"},
    ]
    pictures = []
    for ask in asks:
        assert _person(api, image_id, options='{"seed": 5}', **ask).status_code == 200
        pictures.append(_result(api)[1])
    assert pictures[0] == pictures[1]
    assert len({pictures[1], pictures[2], pictures[3], pictures[4]}) == 4


def test_neither_keyword_nor_prompt_is_refused_unpaid(api: Api) -> None:
    image_id = api.upload_id()
    for body in ({}, {"prompt": "  "}, {"keyword": "{}"}):
        response = _person(api, image_id, **body)
        assert response.status_code == 400
        assert "'keyword'" in response.json()["message"]
        assert "'prompt'" in response.json()["message"]
    assert _person(api, image_id, prompt=["not", "text"]).status_code == 400
    assert api.emulator.stats(api.account.email).credits_charged == 0


def test_unknown_options_are_accepted_and_recorded(api: Api) -> None:
    upload = api.http.post(
        "/edit/target",
        files={"file": ("a.jpg", sample_bytes("astronaut.jpg"))},
        data={"options": json.dumps({"eraseid_gpu": True})},
    )
    assert upload.status_code == 200, upload.text
    image_id = upload.json()["id_image"]
    options = {"seed": 3, "ip_scale": 1, "flag_watermark": 0}
    assert _person(api, image_id, prompt="x", options=json.dumps(options)).status_code == 200
    background = api.background(image_id, {"seasonal": "Winter"}, eraseid_gpu=True, seed=1)
    assert background.status_code == 200
    stats = api.emulator.stats(api.account.email)
    assert stats.unknown_options == {
        "/edit/target": {"eraseid_gpu": 1},
        "/edit/generate": {"flag_watermark": 1, "ip_scale": 1},
        "/edit/background": {"eraseid_gpu": 1},
    }
    person, _ = stats.generations
    assert person.options == options
    # Known options are still validated, next to unknown ones.
    bad = _person(api, image_id, prompt="x", options=json.dumps({"ip_scale": 1, "strength": 2}))
    assert bad.status_code == 400 and "strength" in bad.json()["message"]


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_url_upload_it_cannot_fetch_says_how_to_test_one(api: Api) -> None:
    remote = api.http.post(
        "/edit/target", data={"url": "https://images.piktid.com/x.png", "options": "{}"}
    )
    assert remote.status_code == 400
    message = remote.json()["message"]
    assert "offline" in message and "loopback" in message
    assert "python -m http.server" in message and "127.0.0.1" in message
    closed = f"http://127.0.0.1:{_free_loopback_port()}/photo.jpg"
    silent = api.http.post("/edit/target", data={"url": closed, "options": "{}"})
    assert silent.status_code == 400
    assert "is a server listening there?" in silent.json()["message"]
