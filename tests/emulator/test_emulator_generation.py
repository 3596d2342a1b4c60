"""Generations: validation, credits, warm-up, notifications, rate limit, result files."""

from __future__ import annotations

import json

import cv2
import httpx
import numpy as np
import pytest

from piktid_prefect.wire.keywords import LOCATIONS
from piktid_prefect.wire.models import Notification

from .conftest import Api, sample_bytes


def test_person_generation_ends_in_an_edit_generate_notification(api: Api) -> None:
    image_id = api.upload_id("group_of_three.jpg")
    response = api.http.post(
        "/edit/generate",
        json={
            "id_image": image_id,
            "id_person": "2",
            "keyword": '{"location":"East Asia"}',
            "category": "person",
            "options": '{"seed": 5}',
        },
    )
    assert response.status_code == 200, response.text
    (note,) = api.wait_for(1, "edit_generate")
    assert note["name"] == "edit_generate"
    assert isinstance(note["id"], int) and isinstance(note["timestamp"], float)
    data = note["data"]
    assert data["address"] == image_id
    assert data["id_person"] == 2
    assert json.loads(data["keyword"]) == {"Location": "East Asia"}
    (link,) = data["links"]
    assert link["l"].startswith(api.emulator.root_url + "/files/")
    assert link["l"].endswith(".jpg") and link["n"]
    assert api.download(link["l"])[:3] == b"\xff\xd8\xff"  # no auth needed
    assert Notification.model_validate(note).links[0].url == link["l"]


def test_background_generation_accepts_form_bodies_and_notifies(api: Api) -> None:
    image_id = api.upload_id()
    response = api.http.post(
        "/edit/background",
        data={
            "id_image": image_id,
            "keyword": '{"weather_effects": "Snow"}',
            "prompt": "",
            "options": '{"seed": 1, "relight_strength": 0.5, "eraseid_gpu": true}',
        },
    )
    assert response.status_code == 200, response.text
    (note,) = api.wait_for(1, ["edit_background"])
    assert note["data"]["address"] == image_id
    assert json.loads(note["data"]["keyword"]) == {"weather_effects": "Snow"}
    assert api.download(note["data"]["links"][0]["l"])


def test_prompt_only_background_and_missing_prompt(api: Api) -> None:
    image_id = api.upload_id()
    missing = api.background(image_id)
    assert missing.status_code == 400
    response = api.http.post("/edit/background", json={"id_image": image_id, "prompt": "a cave"})
    assert response.status_code == 200


def test_invalid_keywords_list_the_valid_ones(api: Api) -> None:
    image_id = api.upload_id()
    response = api.generate(image_id, location="Atlantis")
    assert response.status_code == 400
    assert all(location in response.json()["message"] for location in LOCATIONS)
    response = api.background(image_id, {"indoor_spaces": "Cave"})
    assert response.status_code == 400
    assert "Office" in response.json()["message"]
    response = api.background(image_id, {"outer_space": "Moon"})
    assert "florals" in response.json()["message"]
    assert api.credits() == 10_000


def test_person_out_of_range_or_blurry_and_bad_options_are_refused(api: Api) -> None:
    image_id = api.upload_id()
    assert api.generate(image_id, person=1).status_code == 400
    assert api.generate(image_id, person="x").status_code == 400
    assert api.generate(image_id, strength=2.0).status_code == 400
    assert api.background(image_id, {"seasonal": "Summer"}, relight_strength=1.5).status_code == 400
    assert api.generate(image_id, unknown_option=3, seed=1).status_code == 200

    pixels = cv2.imdecode(np.frombuffer(sample_bytes("astronaut.jpg"), np.uint8), cv2.IMREAD_COLOR)
    _, blurred = cv2.imencode(".png", cv2.GaussianBlur(pixels, (15, 15), 0))
    blurry_id = api.upload(blurred.tobytes()).json()["id_image"]
    response = api.generate(blurry_id, person=0)
    assert response.status_code == 400
    assert "blurry" in response.json()["message"]


def test_each_start_charges_one_credit_and_an_empty_balance_answers_402(api: Api) -> None:
    poor = Api(api.emulator, api.emulator.create_account(credits=1))
    image_id = poor.upload_id()
    assert poor.generate(image_id, seed=1).status_code == 200
    response = poor.generate(image_id, seed=2)
    assert response.status_code == 402
    assert "credits" in response.json()["message"].lower()
    assert poor.credits() == 0
    assert api.emulator.stats(poor.account.email).credits_charged == 1


def test_concurrent_first_calls_each_pay_the_warmup_and_staggered_ones_do_not(api: Api) -> None:
    config = api.emulator.config
    image_id = api.upload_id("group_of_three.jpg")
    for location in ("Oceania", "Africa"):
        assert api.generate(image_id, 0, location, seed=1).status_code == 200
    api.emulator.advance(config.mask_warmup_seconds + 1)
    assert api.generate(image_id, 0, "East Asia", seed=1).status_code == 200
    assert api.generate(image_id, 1, "East Asia", seed=1).status_code == 200

    records = api.emulator.stats(api.account.email).generations
    durations = [(r.key.person_id, r.warmup_paid, r.due_at - r.started_at) for r in records]
    full = config.generation_seconds + config.mask_warmup_seconds
    assert [(p, w) for p, w, _ in durations] == [(0, True), (0, True), (0, False), (1, True)]
    assert durations[0][2] == pytest.approx(full)
    assert durations[2][2] == pytest.approx(config.generation_seconds)


def test_notifications_filter_by_name_and_image_and_can_be_deleted(api: Api) -> None:
    first, second = api.upload_id(), api.upload_id("grace_hopper.jpg")
    api.generate(first, seed=1)
    api.generate(second, seed=1)
    api.background(first, {"florals": "Roses"}, seed=1)
    everything = api.wait_for(3)
    assert len(everything) == 3
    assert [n["id"] for n in everything] == sorted(n["id"] for n in everything)
    assert len(api.poll(["edit_generate"])) == 2
    assert len(api.poll("edit_generate", id_image=first)) == 1
    assert len(api.poll("edit_background,error")) == 1

    target = everything[0]["id"]
    deleted = api.http.request("DELETE", "/notification/delete_json", json={"id": target})
    assert deleted.status_code == 200
    assert target not in [n["id"] for n in api.poll()]
    again = api.http.request("DELETE", "/notification/delete_json", json={"id": target})
    assert again.status_code == 404
    assert api.emulator.stats(api.account.email).notifications_deleted == 1


def test_the_books_show_when_a_poll_first_returned_each_result(api: Api) -> None:
    first = api.upload_id()
    api.generate(first, seed=1)
    api.background(api.upload_id("grace_hopper.jpg"), {"florals": "Roses"}, seed=1)
    assert len(api.wait_for(1, "edit_generate")) == 1
    (person, background) = api.emulator.stats(api.account.email).generations
    # Polled only for edit_generate so far: the background result is done but unseen.
    assert person.completed_at is not None and person.seen_at is not None
    assert person.seen_at >= person.completed_at
    assert background.seen_at is None
    assert len(api.wait_for(1, "edit_background")) == 1
    seen = api.emulator.stats(api.account.email).generations
    assert seen[0].seen_at == person.seen_at  # the first time only
    assert seen[1].seen_at is not None and seen[1].seen_at >= seen[1].completed_at


def test_notifications_expire_600_seconds_after_creation(api: Api) -> None:
    api.generate(api.upload_id(), seed=1)
    assert len(api.wait_for(1)) == 1
    api.emulator.advance(600)
    assert api.poll() == []
    assert api.emulator.stats(api.account.email).notifications_expired == 1


def test_accounts_never_see_each_others_notifications(api: Api, other_api: Api) -> None:
    api.generate(api.upload_id(), seed=1)
    assert len(api.wait_for(1)) == 1
    assert other_api.poll() == []


def test_polling_faster_than_every_3_seconds_answers_429_with_retry_after(api: Api) -> None:
    api.poll()
    response = api.http.post("/notification_by_name_json", json={"name_list": "edit_generate"})
    assert response.status_code == 429
    retry_after = float(response.headers["Retry-After"])
    scale = api.emulator.config.time_scale
    assert 0 < retry_after <= 3.0 * scale
    assert api.emulator.stats(api.account.email).rate_limited_polls == 1
    api.emulator.advance(3.0)
    ok = api.http.post("/notification_by_name_json", json={"name_list": "edit_generate"})
    assert ok.status_code == 200


def test_unknown_result_files_answer_404(api: Api) -> None:
    assert httpx.get(f"{api.emulator.root_url}/files/nope.jpg").status_code == 404


def test_result_files_expire_with_the_virtual_clock(api: Api) -> None:
    api.generate(api.upload_id(), seed=1)
    (note,) = api.wait_for(1)
    link = note["data"]["links"][0]["l"]
    assert httpx.get(link).status_code == 200
    api.emulator.advance(api.emulator.config.result_ttl_seconds)
    assert httpx.get(link).status_code == 404


def test_keyword_and_options_may_travel_as_objects(api: Api) -> None:
    image_id = api.upload_id()
    response = api.http.post(
        "/edit/generate",
        json={
            "id_image": image_id,
            "id_person": 0,
            "keyword": {"Location": "Middle East"},
            "category": "person",
            "options": {"seed": 4},
        },
    )
    assert response.status_code == 200, response.text
    (note,) = api.wait_for(1)
    assert note["data"]["keyword"] == '{"Location": "Middle East"}'
