"""Consistent identities on the emulator: the identity's face lands on the target's face."""

from __future__ import annotations

import json
from typing import Any

import cv2
import numpy as np

from piktid_prefect.emulator import FaultConfig
from piktid_prefect.emulator.detect import decode_image, detect_faces
from piktid_prefect.emulator.render_chain import face_region

from .conftest import Api, sample_bytes

_PIXELS = 50_000_000


def _face(api: Api, name: str, identity_name: str | None = "ada") -> str:
    data = {} if identity_name is None else {"identity_name": identity_name}
    response = api.http.post(
        "/consistent_identities/upload_face", files={"file": (name, sample_bytes(name))}, data=data
    )
    assert response.status_code == 200, response.text
    return str(response.json()["identity_name"])


def _target(api: Api, name: str) -> dict[str, Any]:
    response = api.http.post(
        "/consistent_identities/upload_target",
        files={"file": (name, sample_bytes(name))},
        data={"options": json.dumps({"flag_hair": False})},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _swap(api: Api, image_id: str, face: int, identity: str, **options: Any) -> Any:
    options = {"flag_replace_and_download": True, **options}
    body = {"id_image": image_id, "id_face": face, "identity_name": identity}
    return api.http.post(
        "/consistent_identities/generate", json={**body, "options": json.dumps(options)}
    )


def _read(api: Api, path: str = "/consistent_identities/notification/read") -> Any:
    api.emulator.advance(30)
    api.emulator.drain()
    api.emulator.advance(api.emulator.config.poll_min_interval_seconds)
    response = api.http.post(path, json={"name_list": "download, error"})
    assert response.status_code == 200, response.text
    return response.json()["notifications_list"]


def _structure(grey: np.ndarray) -> np.ndarray:
    edges = cv2.Laplacian(cv2.GaussianBlur(grey, (0, 0), 2.0), cv2.CV_32F)
    return (edges - edges.mean()) / (edges.std() + 1e-6)


def _likeness(a: np.ndarray, b: np.ndarray) -> float:
    return float((_structure(a) * _structure(b)).mean())


def test_target_upload_answers_faces_with_their_approval(api: Api) -> None:
    answer = _target(api, "group_of_three.jpg")
    assert answer["image_id"] == answer["id_image"]
    faces = answer["faces"]
    assert faces["number_of_faces"] == 3 == len(faces["coordinates_list"])
    assert faces["approved_faces"] == faces["selected_faces"] == [1, 1, 1]


def test_the_identitys_face_is_placed_on_the_targets_face_and_nothing_else_changes(
    api: Api,
) -> None:
    identity = _face(api, "grace_hopper.jpg")
    target = _target(api, "astronaut.jpg")
    assert _swap(api, target["image_id"], 0, identity, seed=4).status_code == 200
    (note,) = _read(api)
    assert note["name"] == "download"
    data = note["data"]
    assert data["id_image"] == target["image_id"] and data["f"] == 0
    result = decode_image(api.download(data["link_hd"]), max_pixels=_PIXELS)
    original = decode_image(sample_bytes("astronaut.jpg"), max_pixels=_PIXELS)
    person = decode_image(sample_bytes("grace_hopper.jpg"), max_pixels=_PIXELS)
    (face,) = detect_faces(original)
    x0, y0, x1, y1 = face_region(face, 512, 512, with_hair=False)
    grey = [cv2.cvtColor(p, cv2.COLOR_BGR2GRAY) for p in (result, original, person)]
    (own,) = detect_faces(person)
    px0, py0, px1, py1 = face_region(own, person.shape[1], person.shape[0], with_hair=False)
    identity_face = cv2.resize(grey[2][py0:py1, px0:px1], (x1 - x0, y1 - y0))
    swapped, before = grey[0][y0:y1, x0:x1], grey[1][y0:y1, x0:x1]
    assert _likeness(swapped, identity_face) > 0.5
    assert _likeness(swapped, identity_face) > 2 * _likeness(before, identity_face)
    outside = np.ones(grey[0].shape, bool)
    outside[y0:y1, x0:x1] = False
    assert np.abs(grey[0].astype(int) - grey[1].astype(int))[outside].mean() < 3


def test_a_swap_charges_its_price_and_is_read_and_deleted_through_either_endpoint(
    api: Api,
) -> None:
    identity = _face(api, "grace_hopper.jpg", identity_name=None)
    assert identity.startswith("identity-")
    target = _target(api, "group_of_three.jpg")
    for face in (0, 2):
        assert _swap(api, target["image_id"], face, identity).status_code == 200
    notes = _read(api, "/notification_by_name_json")
    assert sorted(n["data"]["f"] for n in notes) == [0, 2]
    first, second = notes
    deleted = api.http.request(
        "DELETE", "/consistent_identities/notification/delete", json={"id": first["id"]}
    )
    assert deleted.status_code == 200
    assert (
        api.http.request(
            "DELETE", "/notification/delete_json", json={"id": second["id"]}
        ).status_code
        == 200
    )
    assert _read(api) == []
    stats = api.emulator.stats(api.account.email)
    assert stats.credits_charged_by_endpoint == {"/consistent_identities/generate": 2}
    assert [g.key.kind for g in stats.generations] == ["identity_swap"] * 2
    assert not any(g.warmup_paid for g in stats.generations)


def test_refused_swaps_charge_nothing(api: Api) -> None:
    identity = _face(api, "grace_hopper.jpg")
    target = _target(api, "astronaut.jpg")["image_id"]
    refused = [
        _swap(api, target, 1, identity),  # the target has one face
        _swap(api, target, 0, "nobody"),
        _swap(api, target, 0, identity, prompt_strength=2),
        _swap(api, "0" * 24, 0, identity),
        _swap(api, target, 0, identity, flag_replace_and_download=False),  # not emulated
    ]
    assert [r.status_code for r in refused] == [400, 400, 400, 405, 400]
    assert api.emulator.stats(api.account.email).credits_charged == 0


def test_an_injected_failure_ends_in_an_error_notification_naming_download(api: Api) -> None:
    identity = _face(api, "grace_hopper.jpg")
    target = _target(api, "astronaut.jpg")["image_id"]
    api.emulator.set_faults(FaultConfig(error_notification=1.0))
    assert _swap(api, target, 0, identity).status_code == 200
    (note,) = _read(api)
    assert note["name"] == "error" and note["data"]["tasks"] == "download"
    assert note["data"]["id_image"] == target and note["data"]["f"] == 0


def test_an_edit_result_uploaded_again_keeps_the_face_the_emulator_drew(api: Api) -> None:
    # A real result has a real face; the emulator's drawn one is known rather than detected.
    image_id = api.upload_id("astronaut.jpg")
    assert api.generate(image_id, 0, seed=1).status_code == 200
    (note,) = api.wait_for(1, "edit_generate")
    result = api.download(note["data"]["links"][0]["l"])
    response = api.http.post(
        "/consistent_identities/upload_target", files={"file": ("edited.jpg", result)}
    )
    original = _target(api, "astronaut.jpg")["faces"]["coordinates_list"]
    assert response.json()["faces"]["coordinates_list"] == original
