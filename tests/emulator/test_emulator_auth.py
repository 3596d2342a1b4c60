"""Tokens: Basic login, one-time refresh, revocation, expiry."""

from __future__ import annotations

import httpx

from piktid_prefect.emulator import EmulatorAccount, EmulatorServer

_MONTH = 31 * 86_400


def _me(account_base: str, token: str) -> httpx.Response:
    return httpx.get(f"{account_base}/me", headers={"Authorization": f"Bearer {token}"})


def _login(base: str, email: str, password: str) -> httpx.Response:
    return httpx.post(f"{base}/tokens", auth=(email, password))


def test_basic_login_returns_both_tokens_and_expirations(piktid_emulator: EmulatorServer) -> None:
    config = piktid_emulator.config
    response = _login(piktid_emulator.base_url, config.demo_email, config.demo_password)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "access_expiration", "refresh_expiration"}
    me = _me(piktid_emulator.base_url, body["access_token"]).json()
    assert me["email"] == config.demo_email
    assert {"username", "name", "surname", "credits"} <= set(me)


def test_wrong_password_and_missing_or_unknown_bearer_answer_401(
    piktid_emulator: EmulatorServer, piktid_account: EmulatorAccount
) -> None:
    base = piktid_emulator.base_url
    assert _login(base, piktid_account.email, "wrong").status_code == 401
    assert httpx.get(f"{base}/me").status_code == 401
    response = _me(base, "not-a-token")
    assert response.status_code == 401
    assert set(response.json()) == {"code", "message", "description"}


def test_refresh_token_is_one_time_and_reuse_revokes_every_token(
    piktid_emulator: EmulatorServer, piktid_account: EmulatorAccount
) -> None:
    base = piktid_emulator.base_url
    first = _login(base, piktid_account.email, piktid_account.password).json()
    old_pair = {"access_token": first["access_token"], "refresh_token": first["refresh_token"]}
    refreshed = httpx.put(f"{base}/tokens", json=old_pair)
    assert refreshed.status_code == 200
    new = refreshed.json()
    assert _me(base, new["access_token"]).status_code == 200
    assert _me(base, first["access_token"]).status_code == 401  # the refreshed access is spent

    reused = httpx.put(f"{base}/tokens", json=old_pair)
    assert reused.status_code == 401
    assert _me(base, new["access_token"]).status_code == 401
    assert _me(base, piktid_account.access_token).status_code == 401
    assert _login(base, piktid_account.email, piktid_account.password).status_code == 200


def test_refresh_accepts_a_form_body(
    piktid_emulator: EmulatorServer, piktid_account: EmulatorAccount
) -> None:
    pair = {
        "access_token": piktid_account.access_token,
        "refresh_token": piktid_account.refresh_token,
    }
    response = httpx.put(f"{piktid_emulator.base_url}/tokens", data=pair)
    assert response.status_code == 200


def test_access_token_expires_on_the_virtual_clock(
    piktid_emulator: EmulatorServer, piktid_account: EmulatorAccount
) -> None:
    base = piktid_emulator.base_url
    assert _me(base, piktid_account.access_token).status_code == 200
    piktid_emulator.advance(_MONTH)
    assert _me(base, piktid_account.access_token).status_code == 401


def test_forced_expiry_and_logout_answer_401(
    piktid_emulator: EmulatorServer, piktid_account: EmulatorAccount
) -> None:
    base = piktid_emulator.base_url
    piktid_emulator.expire_access_token(piktid_account.access_token)
    assert _me(base, piktid_account.access_token).status_code == 401

    token = _login(base, piktid_account.email, piktid_account.password).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.delete(f"{base}/tokens", headers=headers).status_code == 204
    assert _me(base, token).status_code == 401
