"""Uploads: accepted formats, face detection, blur, limits, lifetime, isolation."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from .conftest import SAMPLES, Api, reencode, sample_bytes


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_png_jpeg_and_webp_are_accepted(api: Api, fmt: str) -> None:
    response = api.upload(reencode(sample_bytes("astronaut.jpg"), fmt))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id_image"] == body["image_id"]
    assert body["num_persons"] == 1


def test_gif_empty_and_truncated_files_are_rejected(api: Api) -> None:
    gif = reencode(sample_bytes("astronaut.jpg"), "GIF")
    response = api.upload(gif, "image.gif")
    assert response.status_code == 400
    assert "WEBP, JPEG and PNG" in response.json()["message"]
    assert api.upload(b"").status_code == 400
    jpeg = sample_bytes("grace_hopper.jpg")
    png = reencode(jpeg, "PNG")
    for data in (jpeg[: len(jpeg) // 2], png[: len(png) // 2]):
        response = api.upload(data)
        assert response.status_code == 400
        assert "truncated" in response.json()["message"]


@pytest.mark.parametrize(
    ("name", "persons"), [("astronaut.jpg", 1), ("grace_hopper.jpg", 1), ("group_of_three.jpg", 3)]
)
def test_faces_are_detected_in_the_samples(api: Api, name: str, persons: int) -> None:
    body = api.upload(sample_bytes(name)).json()
    assert body["num_persons"] == persons
    assert [p["id"] for p in body["coordinates_list"]] == list(range(persons))
    for person in body["coordinates_list"]:
        assert person["approve"] is True
        for key in ("centerX", "centerY", "cornerX", "cornerY", "boxWidth", "boxHeight"):
            assert 0.0 <= person[key] <= 1.0


def test_astronaut_face_box_is_where_the_face_is(api: Api) -> None:
    (person,) = api.upload(sample_bytes("astronaut.jpg")).json()["coordinates_list"]
    # The face of astronaut.jpg (512x512) spans about x 177..272, y 66..161.
    assert person["cornerX"] == pytest.approx(177 / 512, abs=0.03)
    assert person["cornerY"] == pytest.approx(66 / 512, abs=0.03)
    assert person["boxWidth"] == pytest.approx(95 / 512, abs=0.03)


def test_a_blurred_face_is_not_approved(api: Api) -> None:
    pixels = cv2.imread(str(SAMPLES / "astronaut.jpg"))
    blurred = cv2.GaussianBlur(pixels, (15, 15), 0)
    ok, encoded = cv2.imencode(".png", blurred)
    assert ok
    body = api.upload(encoded.tobytes()).json()
    assert body["num_persons"] == 1
    assert body["coordinates_list"][0]["approve"] is False


def _face_grid(count: int) -> bytes:
    pixels = cv2.imread(str(SAMPLES / "astronaut.jpg"))
    tile = cv2.resize(pixels[36:201, 147:302], (120, 150))
    columns = 6
    rows = -(-count // columns)
    grid = np.full((rows * 150, columns * 120, 3), 255, np.uint8)
    for index in range(count):
        row, column = divmod(index, columns)
        grid[row * 150 : (row + 1) * 150, column * 120 : (column + 1) * 120] = tile
    ok, encoded = cv2.imencode(".png", grid)
    assert ok
    return encoded.tobytes()


def test_more_than_30_persons_are_rejected(api: Api) -> None:
    assert api.upload(_face_grid(30)).json()["num_persons"] == 30
    response = api.upload(_face_grid(31))
    assert response.status_code == 400
    assert "more than 30 persons" in response.json()["message"]


def test_images_expire_after_24_hours(api: Api) -> None:
    image_id = api.upload_id()
    api.emulator.advance(86_400 + 1)
    response = api.generate(image_id)
    assert response.status_code == 405
    message = response.json()["message"]
    assert "image" in message and "expired or unknown" in message


def test_an_image_of_another_account_is_unknown(api: Api, other_api: Api) -> None:
    image_id = api.upload_id()
    response = other_api.generate(image_id)
    assert response.status_code == 405
    assert other_api.background(image_id, {"indoor_spaces": "Office"}).status_code == 405
    assert api.generate(image_id).status_code == 200


def test_url_uploads_fetch_loopback_only(api: Api, loopback_files: str) -> None:
    response = api.http.post(
        "/edit/target", data={"url": f"{loopback_files}/grace_hopper.jpg", "options": "{}"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["num_persons"] == 1
    remote = api.http.post(
        "/edit/target", data={"url": "https://images.piktid.com/x.png", "options": "{}"}
    )
    assert remote.status_code == 400


def test_reference_upload_returns_a_name_usable_in_options(api: Api) -> None:
    response = api.http.post(
        "/edit/reference", files={"reference": ("ref.jpg", sample_bytes("astronaut.jpg"))}
    )
    assert response.status_code == 200
    name = response.json()["reference_name"]
    image_id = api.upload_id()
    assert api.background(image_id, {"seasonal": "Winter"}, reference_name=name).status_code == 200
    unknown = api.background(image_id, {"seasonal": "Winter"}, reference_name="nope")
    assert unknown.status_code == 400


def test_detection_can_be_switched_off(api: Api) -> None:
    response = api.http.post(
        "/edit/target",
        files={"file": ("a.jpg", sample_bytes("astronaut.jpg"))},
        data={"options": '{"flag_detection": false}'},
    )
    assert response.json()["num_persons"] == 0


def test_image_is_not_an_image(api: Api) -> None:
    fake_png = b"\x89PNG\r\n\x1a\n" + b"garbage" * 10
    assert api.upload(fake_png).status_code == 400
    tiny = io.BytesIO()
    Image.new("RGB", (4, 4)).save(tiny, format="PNG")
    assert api.upload(tiny.getvalue()).json()["num_persons"] == 0
