"""Requests shaped exactly as PiktID's chaining clients send them, against the emulator.

``piktid/superid`` (newest ``superid_api.py``/``superid_utils.py``/``main.py``): the input
URL fetched and uploaded as a multipart ``file`` named ``target.jpg`` to ``/superid/upload``;
``GET /superid_info`` with a JSON body; ``/superid/v2`` (or ``/superid_fast``) as JSON with
the scale factor as text, the settings at top level and ``options`` as a JSON string; then
``/notification_by_name_json`` with ``name_list: "superid"`` until an entry matches
``data.id_image`` and ``data.id_project``, whose ``data.link.l`` is the result (that client
deletes nothing). ``piktid/swapid-person`` (``main_full.py --body``, ``swap_utils.py``,
``consistent_identities_api.py``): the person edit's link becomes ``TARGET_URL``; face and
target are fetched and uploaded as files (``face.jpg``, ``target.jpg``; no ``identity_name``
when none is given, as ``requests`` drops a None field); the swap is JSON with ``options`` a
JSON string holding ``flag_replace_and_download``; the ``download`` notification is read
and deleted through the product's own endpoints (older version, matching ``data.f`` too)
or the general ones (newest version), and ``data.link_hd`` is downloaded. See
``docs/chain-api.md`` for the versions. Only the base URL differs from the real service.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

import httpx
import pytest
from PIL import Image

from piktid_prefect.emulator import EmulatorAccount, EmulatorServer

from .test_piktid_sample_clients import SampleClient

_POLL_SLEEP_SECONDS = 0.06
_MAX_POLLS = 200


class ChainSampleClient(SampleClient):
    """What ``superid`` and ``swapid-person`` send, one request per method."""

    def upload_fetched(self, endpoint: str, url: str, name: str, data: dict[str, Any]) -> Any:
        fetched = httpx.get(url)  # requests.get(url), then BytesIO(content) with a .name
        fetched.raise_for_status()
        files = {"file": (name, fetched.content)}
        return httpx.post(f"{self.url_api}{endpoint}", headers=self.headers, files=files, data=data)

    def me(self) -> Any:
        return httpx.get(f"{self.url_api}/me", headers=self.headers).json()

    def superid_info(self, id_project: str, id_image: str, scale_factor: str) -> Any:
        data = {"id_project": id_project, "id_image": id_image, "scale_factor": scale_factor}
        data.update({"upscaling_mode": "normal", "strength": "0.35", "num_inference_steps": 20})
        url = f"{self.url_api}/superid_info"
        return httpx.request("GET", url, headers=self.headers, json=data).json()

    def superid_link(self, id_project: str, id_image: str) -> str | None:
        listed = httpx.post(
            f"{self.url_api}/notification_by_name_json",
            headers=self.headers,
            json={"name_list": "superid"},
        ).json()["notifications_list"]
        for item in listed:
            if item["data"]["id_image"] == id_image and item["data"]["id_project"] == id_project:
                return str(item["data"]["link"]["l"])
        return None

    def swap_download(self, read: str, delete: str, image_id: str, idx_face: int | None) -> Any:
        for _ in range(_MAX_POLLS):
            listed = httpx.post(
                f"{self.url_api}{read}", headers=self.headers, json={"name_list": "download"}
            ).json()["notifications_list"]
            mine = [
                n
                for n in listed
                if n.get("name") == "download"
                and (idx_face is None or n.get("data").get("f") == idx_face)
                and n.get("data").get("id_image") == image_id
            ]
            for n in mine:
                url = f"{self.url_api}{delete}"
                httpx.request("DELETE", url, headers=self.headers, json={"id": n.get("id")})
            if mine:
                return {**mine[0].get("data", {})}
            time.sleep(_POLL_SLEEP_SECONDS)
        raise AssertionError(f"no download notification for {image_id}")


def _edited_person_link(client: ChainSampleClient, loopback_files: str) -> str:
    """``main_full.py --body``: the person edit first (eddie's shapes), its link kept."""
    image_id = client.upload_url(f"{loopback_files}/grace_hopper.jpg", {})["id_image"]
    body = {"category": "person", "id_image": image_id, "id_person": 0}
    body.update({"prompt": "a man in a suit", "options": json.dumps({"seed": 11})})
    assert client.start("/edit/generate", body).status_code == 200
    return str(client.wait("edit_generate", image_id, id_person=0)["data"]["links"][0]["l"])


def _picture(url: str) -> Image.Image:
    response = httpx.get(url)  # no Authorization header
    assert response.status_code == 200
    return Image.open(io.BytesIO(response.content))


@pytest.mark.parametrize("fast", [False, True], ids=["superid-v2", "superid-fast"])
def test_superid_main_upscales_an_edit_result_link(
    piktid_emulator: EmulatorServer,
    piktid_account: EmulatorAccount,
    loopback_files: str,
    fast: bool,
) -> None:
    client = ChainSampleClient(
        piktid_emulator.base_url, piktid_account.email, piktid_account.password
    )
    link = _edited_person_link(client, loopback_files)
    uploaded = client.upload_fetched("/superid/upload", link, "target.jpg", {}).json()
    id_project, id_image = uploaded.get("id_project"), uploaded.get("id_image")
    info = client.superid_info(id_project, id_image, "2")
    width, height = info["width"], info["height"]
    assert (width, height) == (512, 600) and info["required_credits"] == 0.25
    assert not (min(width, height) < 64 or max(2 * width, 2 * height) > 8192)
    data = {"id_project": id_project, "id_image": id_image, "scale_factor": "2"}
    data.update({"flag_email": False, "output_format": "PNG"})
    if fast:
        data.update({"seed": 42, "options": json.dumps({})})
        started = client.start("/superid_fast", data)
    else:
        data.update({"fractality": 3, "creativity": 7, "fidelity": 5, "denoise": 1})
        data.update({"face_enhancer": False, "seed": 42, "prompt": ""})
        data["options"] = json.dumps({})
        started = client.start("/superid/v2", data)
    assert started.status_code == 200, started.text
    for _ in range(_MAX_POLLS):
        result = client.superid_link(id_project, id_image)
        if result is not None:
            break
        time.sleep(_POLL_SLEEP_SECONDS)
    assert result is not None
    assert _picture(result).size == (1024, 1200)
    stats = piktid_emulator.stats(piktid_account.email)
    endpoint = "/superid_fast" if fast else "/superid/v2"
    assert stats.credits_charged_by_endpoint == {"/edit/generate": 1, endpoint: 0.25}
    assert float(client.me()["credits"]) == 10_000 - 1.25


@pytest.mark.parametrize(
    ("read", "delete", "match_face"),
    [
        (
            "/consistent_identities/notification/read",
            "/consistent_identities/notification/delete",
            True,
        ),
        ("/notification_by_name_json", "/notification/delete_json", False),
    ],
    ids=["older-own-endpoints", "newest-general-endpoints"],
)
def test_swapid_main_full_swaps_a_face_onto_the_edited_person(
    piktid_emulator: EmulatorServer,
    piktid_account: EmulatorAccount,
    loopback_files: str,
    read: str,
    delete: str,
    match_face: bool,
) -> None:
    client = ChainSampleClient(
        piktid_emulator.base_url, piktid_account.email, piktid_account.password
    )
    target_url = _edited_person_link(client, loopback_files)
    face_url = f"{loopback_files}/astronaut.jpg"
    face = client.upload_fetched("/consistent_identities/upload_face", face_url, "face.jpg", {})
    face_name = face.json().get("identity_name")
    assert face_name
    options = {"options": json.dumps({})}
    target = client.upload_fetched(
        "/consistent_identities/upload_target", target_url, "target.jpg", options
    ).json()
    image_id = target.get("image_id")
    faces = target.get("faces", {})
    assert faces.get("approved_faces", []).count(1) == 1  # the newest client's count
    assert faces.get("coordinates_list") and faces.get("selected_faces") is not None
    swap_options = {"flag_replace_and_download": True, "seed": 123}
    data = {"id_image": image_id, "id_face": 0, "identity_name": face_name}
    data["options"] = json.dumps(swap_options)
    started = client.start("/consistent_identities/generate", data)
    assert started.status_code == 200, started.text
    result = client.swap_download(read, delete, image_id, 0 if match_face else None)
    assert _picture(result["link_hd"]).size == (512, 600)
    stats = piktid_emulator.stats(piktid_account.email)
    assert stats.credits_charged_by_endpoint == {
        "/edit/generate": 1,
        "/consistent_identities/generate": 1,
    }
    assert stats.notifications_deleted == 2  # the edit's and the swap's
