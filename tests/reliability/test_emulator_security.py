"""Emulator security that tests/emulator does not already cover: one account's actions
(token theft, deletions, spending) never reach another account.

Already covered there: refresh-token reuse revokes the account's tokens, accounts never
see each other's notifications or images, wrong passwords and unknown bearers answer 401.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from piktid_prefect.emulator import EmulatorServer
from tests.emulator.conftest import Api


@pytest.fixture
def alice(piktid_emulator: EmulatorServer, piktid_account) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    api = Api(piktid_emulator, piktid_account)
    yield api
    api.http.close()


@pytest.fixture
def mallory(piktid_emulator: EmulatorServer) -> Iterator[Api]:
    api = Api(piktid_emulator, piktid_emulator.create_account(credits=100))
    yield api
    api.http.close()


def _me(api: Api) -> int:
    return api.http.get("/me").status_code


def test_refresh_token_reuse_revokes_only_the_reusing_account(alice: Api, mallory: Api) -> None:
    pair = {
        "access_token": mallory.account.access_token,
        "refresh_token": mallory.account.refresh_token,
    }
    tokens = f"{mallory.account.base_url}/tokens"
    assert httpx.put(tokens, json=pair).status_code == 200
    assert httpx.put(tokens, json=pair).status_code == 401  # reused: mallory is revoked

    assert _me(mallory) == 401
    assert _me(alice) == 200


def test_a_refresh_token_only_renews_the_access_token_it_was_issued_with(
    alice: Api, mallory: Api
) -> None:
    stolen = {
        "access_token": mallory.account.access_token,
        "refresh_token": alice.account.refresh_token,
    }
    response = httpx.put(f"{alice.account.base_url}/tokens", json=stolen)
    assert response.status_code == 401
    assert _me(alice) == 200
    assert _me(mallory) == 200


def test_an_account_cannot_delete_another_accounts_notification(alice: Api, mallory: Api) -> None:
    alice.generate(alice.upload_id(), seed=1)
    (notification,) = alice.wait_for(1)
    deleted = mallory.http.request(
        "DELETE", "/notification/delete_json", json={"id": notification["id"]}
    )
    assert deleted.status_code == 404
    assert [n["id"] for n in alice.poll()] == [notification["id"]]


def test_an_account_cannot_spend_another_accounts_credits_or_image(
    alice: Api, mallory: Api, piktid_emulator: EmulatorServer
) -> None:
    image_id = alice.upload_id()
    assert mallory.generate(image_id).status_code >= 400
    assert alice.generate(image_id, seed=1).status_code == 200
    assert piktid_emulator.stats(alice.account.email).credits_charged == 1
    assert piktid_emulator.stats(mallory.account.email).credits_charged == 0
    assert mallory.http.get("/me").json()["credits"] == 100
