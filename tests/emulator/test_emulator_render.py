"""Result pictures: deterministic, keyword- and seed-specific, local to the right region."""

from __future__ import annotations

import functools

import cv2
import numpy as np
import pytest

from piktid_prefect.emulator.detect import detect_faces
from piktid_prefect.emulator.render import render_background, render_person, subject_mask

from .conftest import SAMPLES, Api


def _decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).astype(np.float32)


def _result(api: Api, response: object) -> bytes:
    """Wait for the only pending result of ``api``'s account, download it, delete it."""
    (note,) = api.wait_for(1)
    api.http.request("DELETE", "/notification/delete_json", json={"id": note["id"]})
    return api.download(note["data"]["links"][0]["l"])


def test_same_inputs_and_seed_give_identical_bytes_and_others_differ(api: Api) -> None:
    image_id = api.upload_id()
    results = [
        _result(api, api.generate(image_id, 0, location, seed=seed))
        for location, seed in [("Oceania", 7), ("Oceania", 7), ("Oceania", 8), ("Africa", 7)]
    ]
    assert results[0] == results[1]
    assert len({results[1], results[2], results[3]}) == 3
    assert api.emulator.stats(api.account.email).duplicates  # the same identity, twice


def test_backgrounds_are_deterministic_and_differ_by_keyword_and_seed(api: Api) -> None:
    image_id = api.upload_id()
    keywords = [
        ({"nature_landscapes": "Beach"}, 1),
        ({"nature_landscapes": "Beach"}, 1),
        ({"nature_landscapes": "Beach"}, 2),
        ({"indoor_spaces": "Office"}, 1),
    ]
    results = [_result(api, api.background(image_id, kw, seed=seed)) for kw, seed in keywords]
    assert results[0] == results[1]
    assert len({results[1], results[2], results[3]}) == 3


def test_the_server_picks_a_seed_when_none_is_sent(api: Api) -> None:
    image_id = api.upload_id()
    seeds = {api.generate(image_id).json()["seed"] for _ in range(3)}
    assert len(seeds) > 1


def test_person_output_changes_the_face_and_keeps_the_rest() -> None:
    pixels = cv2.imread(str(SAMPLES / "group_of_three.jpg"))
    faces = detect_faces(pixels)
    face = faces[1]
    out = _decode(render_person(pixels, face, "Africa", seed=3))
    diff = np.abs(out - pixels.astype(np.float32)).mean(axis=2)
    inside = diff[face.y : face.y + face.h, face.x : face.x + face.w].mean()
    far = diff[:, : faces[0].x + faces[0].w].mean()  # the left portrait, well away
    assert inside > 25
    assert far < 3


@functools.cache
def _grace_hopper() -> tuple[np.ndarray, np.ndarray]:
    pixels = cv2.imread(str(SAMPLES / "grace_hopper.jpg"))
    return pixels, subject_mask(pixels, detect_faces(pixels))


def _subject_shift(relight: float) -> float:
    pixels, mask = _grace_hopper()
    out = _decode(render_background(pixels, mask, "seasonal:Winter", 1, relight_strength=relight))
    core = mask > 0.95
    assert core.mean() > 0.1  # the subject is a real part of the picture
    return float(np.abs(out - pixels.astype(np.float32))[core].mean())


def test_relight_is_proportional_to_relight_strength() -> None:
    none, half, full = (_subject_shift(r) for r in (0.0, 0.5, 1.0))
    assert none < 3  # 0 = subject unchanged (up to JPEG noise)
    assert half > none + 5
    assert full == pytest.approx(2 * half, rel=0.25)


def test_background_keeps_the_face_and_replaces_the_corners() -> None:
    pixels = cv2.imread(str(SAMPLES / "astronaut.jpg"))
    faces = detect_faces(pixels)
    mask = subject_mask(pixels, faces)
    out = _decode(render_background(pixels, mask, "florals:Roses", 4, relight_strength=0.0))
    diff = np.abs(out - pixels.astype(np.float32)).mean(axis=2)
    face = faces[0]
    assert diff[face.y : face.y + face.h, face.x : face.x + face.w].mean() < 5
    assert diff[:40, :40].mean() > 20
