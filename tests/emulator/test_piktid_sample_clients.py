"""Requests shaped exactly as PiktID's public sample clients send them, against the emulator.

The shapes come from ``piktid/swapid-person`` (``eddie/edit_api.py``: prompt-only person
with ``ip_scale`` and a reference), ``piktid/eddie-person-generator`` (``editPerson_api.py``:
lowercase ``location`` keyword) and ``piktid/background-generator``
(``editBackground_api.py``: ``eraseid_gpu`` in the options): Basic login with an empty
form, ``PUT /tokens`` with the whole token dictionary (``url_api`` included), uploads as a
multipart ``file`` or a form ``url`` with ``options`` as a JSON string, starts as JSON with
``keyword``/``options`` as JSON strings, ``name_list`` as a plain string, deletes with a
JSON body, and a plain unauthenticated GET of ``links[0].l``. Like those clients, these
helpers read only what the clients read and poll on a sleep, not on the virtual clock.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from piktid_prefect.emulator import EmulatorAccount, EmulatorServer

from .conftest import SAMPLES

# The emulator runs 100x fast: its 3 s minimum poll interval is 30 ms of real time.
_POLL_SLEEP_SECONDS = 0.06
_MAX_POLLS = 200


class SampleClient:
    """What PiktID's sample clients do, one request per method, in their wire format."""

    def __init__(self, base_url: str, email: str, password: str) -> None:
        self.url_api = base_url
        answer = httpx.post(f"{base_url}/tokens", data={}, auth=(email, password)).json()
        self.tokens = {
            "access_token": answer["access_token"],
            "refresh_token": answer["refresh_token"],
            "url_api": base_url,
        }

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": "Bearer " + self.tokens["access_token"]}

    def refresh(self) -> None:
        answer = httpx.put(f"{self.url_api}/tokens", json=self.tokens).json()
        self.tokens = {**self.tokens, **{k: answer[k] for k in ("access_token", "refresh_token")}}

    def upload_file(self, name: str, options: dict[str, Any]) -> dict[str, Any]:
        with (SAMPLES / name).open("rb") as image_file:
            response = httpx.post(
                f"{self.url_api}/edit/target",
                headers=self.headers,
                files={"file": image_file},
                data={"options": json.dumps(options)},
            )
        return dict(response.json())

    def upload_url(self, url: str, options: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url_api}/edit/target",
            headers=self.headers,
            data={"url": url, "options": json.dumps(options)},
        )
        return dict(response.json())

    def upload_reference(self, name: str) -> str:
        with (SAMPLES / name).open("rb") as image_file:
            response = httpx.post(
                f"{self.url_api}/edit/reference",
                headers=self.headers,
                files={"reference": image_file},
            )
        return str(response.json()["reference_name"])

    def start(self, endpoint: str, data: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.url_api}{endpoint}", headers=self.headers, json=data)

    def wait(self, name: str, image_id: str, id_person: int | None = None) -> dict[str, Any]:
        """Poll ``name``, delete the notifications of this image (and person), return one."""
        for _ in range(_MAX_POLLS):
            listed = httpx.post(
                f"{self.url_api}/notification_by_name_json",
                headers=self.headers,
                json={"name_list": name, "id_image": image_id},
            ).json()["notifications_list"]
            mine = [
                n
                for n in listed
                if n.get("name") == name
                and n.get("data").get("address") == image_id
                and (id_person is None or n.get("data").get("id_person") == id_person)
            ]
            for notification in mine:
                httpx.request(
                    "DELETE",
                    f"{self.url_api}/notification/delete_json",
                    headers=self.headers,
                    json={"id": notification.get("id")},
                )
            if mine:
                return dict(mine[0])
            time.sleep(_POLL_SLEEP_SECONDS)
        raise AssertionError(f"no {name} notification for {image_id}")


def _download(notification: dict[str, Any]) -> bytes:
    response = httpx.get(notification["data"]["links"][0]["l"])  # no Authorization header
    assert response.status_code == 200
    return response.content


def test_swapid_prompt_only_person_with_reference_and_url_upload(
    piktid_emulator: EmulatorServer, piktid_account: EmulatorAccount, loopback_files: str
) -> None:
    client = SampleClient(piktid_emulator.base_url, piktid_account.email, piktid_account.password)
    client.refresh()
    reference = client.upload_reference("grace_hopper.jpg")
    upload = client.upload_url(f"{loopback_files}/astronaut.jpg", {"eraseid_gpu": True})
    image_id = upload["id_image"]
    options = {"eraseid_gpu": True, "seed": 3, "ip_scale": 1, "reference_name": reference}
    started = client.start(
        "/edit/generate",
        {
            "category": "person",
            "id_image": image_id,
            "id_person": 0,
            "prompt": "a woman in a red dress",
            "options": json.dumps(options),
        },
    )
    assert started.status_code == 200, started.text
    notification = client.wait("edit_generate", image_id, id_person=0)
    assert notification["timestamp"] <= time.time()
    assert _download(notification)[:3] == b"\xff\xd8\xff"

    stats = piktid_emulator.stats(piktid_account.email)
    (record,) = stats.generations
    assert record.options == options
    assert record.key.prompt == "a woman in a red dress"
    assert stats.credits_charged == 1
    assert stats.notifications_deleted == 1


def test_eddie_person_generator_with_lowercase_location_keyword(
    piktid_emulator: EmulatorServer, piktid_account: EmulatorAccount
) -> None:
    client = SampleClient(piktid_emulator.base_url, piktid_account.email, piktid_account.password)
    image_id = client.upload_file("group_of_three.jpg", {})["id_image"]
    for id_person in (0, 2):
        data = {"category": "person", "id_image": image_id, "id_person": id_person}
        data = {**data, "keyword": json.dumps({"location": "East Asia"})}
        data = {**data, "options": json.dumps({"seed": 41})}
        assert client.start("/edit/generate", data).status_code == 200
    pictures = [_download(client.wait("edit_generate", image_id, id_person=p)) for p in (0, 2)]
    assert pictures[0] != pictures[1]
    assert piktid_emulator.stats(piktid_account.email).credits_charged == 2


def test_background_generator_with_keyword_prompt_and_legacy_option(
    piktid_emulator: EmulatorServer, piktid_account: EmulatorAccount
) -> None:
    client = SampleClient(piktid_emulator.base_url, piktid_account.email, piktid_account.password)
    image_id = client.upload_file("grace_hopper.jpg", {"flag_detection": True})["id_image"]
    reference = client.upload_reference("astronaut.jpg")
    options = {"eraseid_gpu": True, "strength": 0.8, "seed": 7, "reference_name": reference}
    data = {
        "id_image": image_id,
        "keyword": json.dumps({"nature_landscapes": "Beach"}),
        "prompt": "golden hour",
        "options": json.dumps(options),
    }
    assert client.start("/edit/background", data).status_code == 200
    assert _download(client.wait("edit_background", image_id))[:3] == b"\xff\xd8\xff"
    stats = piktid_emulator.stats(piktid_account.email)
    assert stats.unknown_options["/edit/background"] == {"eraseid_gpu": 1}
    assert stats.credits_charged == 1
