"""Injected faults: each kind does what it says, is counted, and is reproducible."""

from __future__ import annotations

import time

import httpx
import pytest

from piktid_prefect.emulator import EmulatorServer, FaultConfig

from .conftest import Api

_GENERATE = ("/edit/generate",)


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_status_faults_answer_before_processing_and_charge_nothing(api: Api, status: int) -> None:
    image_id = api.upload_id()
    api.emulator.set_faults(FaultConfig(endpoints=_GENERATE, **{f"http_{status}": 1.0}))
    response = api.generate(image_id, seed=1)
    assert response.status_code == status
    assert set(response.json()) == {"code", "message", "description"}
    if status == 429:
        assert float(response.headers["Retry-After"]) >= 0
    stats = api.emulator.stats(api.account.email)
    assert stats.credits_charged == 0 and stats.generations == []
    assert stats.faults == {f"http_{status}": 1}
    assert api.upload(b"").status_code == 400  # other endpoints are not filtered in


def test_dropped_connection_is_a_transport_error_and_charges_nothing(api: Api) -> None:
    image_id = api.upload_id()
    api.emulator.set_faults(FaultConfig(endpoints=_GENERATE, drop_connection=1.0))
    with pytest.raises(httpx.TransportError):
        api.generate(image_id, seed=1)
    assert api.emulator.stats(api.account.email).credits_charged == 0


def test_lost_response_after_start_charges_and_still_notifies(api: Api) -> None:
    image_id = api.upload_id()
    api.emulator.set_faults(FaultConfig(endpoints=_GENERATE, lose_response_after_start=1.0))
    with pytest.raises(httpx.TransportError):
        api.generate(image_id, seed=1)
    api.emulator.set_faults(FaultConfig())
    assert len(api.wait_for(1)) == 1
    stats = api.emulator.stats(api.account.email)
    assert stats.credits_charged == 1
    assert stats.faults == {"lose_response_after_start": 1}


def test_slow_responses_are_delayed(api: Api) -> None:
    scale = api.emulator.config.time_scale
    api.emulator.set_faults(
        FaultConfig(endpoints=("/me",), slow_response=1.0, slow_response_seconds=50)
    )
    started = time.monotonic()
    assert api.http.get("/me").status_code == 200
    assert time.monotonic() - started >= 50 * scale * 0.9


def test_lost_notification_is_charged_but_never_notified(api: Api) -> None:
    api.emulator.set_faults(FaultConfig(endpoints=_GENERATE, lose_notification=1.0))
    api.generate(api.upload_id(), seed=1)
    api.emulator.advance(60)
    assert api.emulator.drain()
    assert api.poll() == []
    stats = api.emulator.stats(api.account.email)
    assert stats.credits_charged == 1
    assert [g.outcome for g in stats.generations] == ["lost"]


def test_duplicated_notification_has_two_ids_and_the_same_data(api: Api) -> None:
    api.emulator.set_faults(FaultConfig(endpoints=_GENERATE, duplicate_notification=1.0))
    api.generate(api.upload_id(), seed=1)
    first, second = api.wait_for(2)
    assert first["id"] != second["id"]
    assert first["data"] == second["data"]


def test_shuffled_notification_lists_are_out_of_order(api: Api) -> None:
    image_id = api.upload_id()
    for seed in range(3):
        api.background(image_id, {"seasonal": "Spring"}, seed=seed)
    assert len(api.wait_for(3)) == 3
    api.emulator.set_faults(FaultConfig(shuffle_notifications=1.0))
    ids = [note["id"] for note in api.poll()]
    assert ids != sorted(ids)


def test_error_notification_replaces_the_result(api: Api) -> None:
    api.emulator.set_faults(FaultConfig(endpoints=("/edit/background",), error_notification=1.0))
    image_id = api.upload_id()
    api.background(image_id, {"seasonal": "Autumn"}, seed=1)
    (note,) = api.wait_for(1)
    assert note["name"] == "error"
    assert note["data"]["tasks"] == "edit_background"
    assert note["data"]["msg"] and note["data"]["address"] == image_id


def test_forced_token_expiry_makes_the_next_request_401(api: Api) -> None:
    api.emulator.set_faults(FaultConfig(endpoints=("/me",), expire_token=1.0))
    assert api.http.get("/me").status_code == 200
    assert api.http.get("/me").status_code == 401


def test_faults_are_reproducible_from_their_seed(piktid_emulator: EmulatorServer) -> None:
    account = piktid_emulator.create_account()
    headers = {"Authorization": f"Bearer {account.access_token}"}

    def sequence() -> list[int]:
        piktid_emulator.set_faults(FaultConfig(seed=42, http_503=0.5, endpoints=("/me",)))
        return [httpx.get(f"{account.base_url}/me", headers=headers).status_code for _ in range(12)]

    first = sequence()
    assert first == sequence()
    assert {200, 503} == set(first)
    piktid_emulator.set_faults(FaultConfig())


def test_assigning_config_faults_directly_also_works(api: Api) -> None:
    api.emulator.config.faults = FaultConfig(endpoints=("/me",), http_502=1.0)
    assert api.http.get("/me").status_code == 502
    api.emulator.config.faults = FaultConfig()
    assert api.http.get("/me").status_code == 200
