"""SuperID on the emulator: fractional prices, real resampled results, no charge when refused."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from PIL import Image

from piktid_prefect.emulator import FaultConfig

from .conftest import Api, sample_bytes


def _upload(api: Api, data: bytes) -> dict[str, Any]:
    response = api.http.post("/superid/upload", files={"file": ("in.jpg", data)})
    assert response.status_code == 200, response.text
    answer = dict(response.json())
    assert set(answer) == {"id_project", "id_image"}
    return answer


def _start(api: Api, ids: dict[str, Any], path: str = "/superid/v2", **body: Any) -> httpx.Response:
    payload = {**ids, "scale_factor": "2", "flag_email": False, "output_format": "PNG"}
    payload.update(body)
    payload.setdefault("options", "{}")
    return api.http.post(path, json=payload)


def _resized(name: str, size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(sample_bytes(name))).resize(size).save(buffer, format="PNG")
    return buffer.getvalue()


def _credits(api: Api) -> float:
    return float(api.http.get("/me").json()["credits"])


def test_info_prices_an_x2_upscale_at_a_quarter_credit_and_the_start_charges_it(api: Api) -> None:
    ids = _upload(api, sample_bytes("grace_hopper.jpg"))
    body = {**ids, "scale_factor": "2", "upscaling_mode": "normal", "strength": "0.35"}
    info = api.http.request("GET", "/superid_info", json=body).json()
    assert info["width"] == 512 and info["height"] == 600
    assert info["required_credits"] == 0.25 and info["eta"] > 0
    before = _credits(api)
    started = _start(api, ids, creativity=7, fidelity=5, seed=3, options='{"force_fixer": true}')
    assert started.status_code == 200, started.text
    assert _credits(api) == before - 0.25
    me = api.http.get("/me").json()
    assert me["credits"] == 9999.75  # fractional on the wire, as a number
    stats = api.emulator.stats(api.account.email)
    assert stats.credits_charged == 0.25
    assert stats.credits_charged_by_endpoint == {"/superid/v2": 0.25}
    (record,) = stats.generations
    assert record.key.kind == "upscale" and record.options["creativity"] == 7


def test_an_upscale_ends_in_a_superid_notification_with_one_link_to_a_real_png(api: Api) -> None:
    ids = _upload(api, sample_bytes("astronaut.jpg"))
    assert _start(api, ids, seed=1).status_code == 200
    (note,) = api.wait_for(1, "superid")
    data = note["data"]
    assert data["id_image"] == ids["id_image"] and data["id_project"] == ids["id_project"]
    assert isinstance(data["link"], dict)  # one object, not a list
    response = httpx.get(data["link"]["l"])
    assert response.headers["content-type"] == "image/png"
    picture = Image.open(io.BytesIO(response.content))
    assert picture.format == "PNG" and picture.size == (1024, 1024)
    # A resampling of the input, not some other picture: scaled back down, it is close.
    original = Image.open(io.BytesIO(sample_bytes("astronaut.jpg"))).convert("L")
    back = picture.convert("L").resize(original.size)
    diff = sum(abs(a - b) for a, b in zip(original.getdata(), back.getdata(), strict=True))
    assert diff / (512 * 512) < 8


def test_a_fast_x4_jpeg_costs_a_credit_and_is_four_times_the_size(api: Api) -> None:
    ids = _upload(api, _resized("astronaut.jpg", (200, 150)))
    response = _start(api, ids, "/superid_fast", scale_factor=4, output_format="JPEG", seed=2)
    assert response.status_code == 200, response.text
    (note,) = api.wait_for(1, "superid")
    picture = Image.open(io.BytesIO(api.download(note["data"]["link"]["l"])))
    assert picture.format == "JPEG" and picture.size == (800, 600)
    assert api.emulator.stats(api.account.email).credits_charged_by_endpoint == {"/superid_fast": 1}


def test_refused_upscales_charge_nothing(api: Api) -> None:
    ids = _upload(api, sample_bytes("grace_hopper.jpg"))
    tiny = _upload(api, _resized("astronaut.jpg", (60, 80)))
    wide = _upload(api, _resized("astronaut.jpg", (2100, 300)))
    refusals = [
        (_start(api, ids, scale_factor="3"), 400),
        (_start(api, ids, output_format="GIF"), 400),
        (_start(api, ids, creativity=25), 400),
        (_start(api, {**ids, "id_project": "nope"}), 405),
        (_start(api, tiny), 400),
        (_start(api, wide, scale_factor="4"), 400),
    ]
    assert [r.status_code for r, _ in refusals] == [status for _, status in refusals]
    assert api.emulator.stats(api.account.email).credits_charged == 0


def test_an_account_short_of_a_quarter_credit_is_refused_with_402(other_api: Api) -> None:
    other_api.emulator.engine.accounts.create(other_api.account.email, "x", 0.2)
    ids = _upload(other_api, sample_bytes("astronaut.jpg"))
    response = _start(other_api, ids)
    assert response.status_code == 402
    assert "0.25 needed, 0.2 available" in response.json()["message"]
    assert other_api.emulator.stats(other_api.account.email).credits_charged == 0


def test_a_start_whose_answer_is_lost_is_charged_once_and_still_notified(api: Api) -> None:
    api.emulator.set_faults(FaultConfig(lose_response_after_start=1.0, endpoints=("/superid/v2",)))
    ids = _upload(api, sample_bytes("astronaut.jpg"))
    with pytest.raises(httpx.TransportError):
        _start(api, ids)
    api.emulator.set_faults(FaultConfig())
    (note,) = api.wait_for(1, "superid")
    assert note["data"]["id_image"] == ids["id_image"]
    assert api.emulator.stats(api.account.email).credits_charged == 0.25


def test_an_injected_failure_ends_in_an_error_notification_naming_superid(api: Api) -> None:
    api.emulator.set_faults(FaultConfig(error_notification=1.0))
    ids = _upload(api, sample_bytes("astronaut.jpg"))
    assert _start(api, ids).status_code == 200
    (note,) = api.wait_for(1, "superid, error")
    assert note["name"] == "error" and note["data"]["tasks"] == "superid"
    assert note["data"]["id_image"] == ids["id_image"]
