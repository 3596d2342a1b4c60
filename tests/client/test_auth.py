"""Login, one-time refresh tokens, re-login, and a single refresh for concurrent 401s."""

from __future__ import annotations

import asyncio
import base64
import threading
from typing import Any

import httpx
import pytest

from piktid_prefect.wire.client import AsyncPiktidClient, PiktidClient
from piktid_prefect.wire.errors import AuthenticationFailed, InvalidConfiguration, TransportError
from tests.client.conftest import BASE_URL, FAST_RETRY, MockAPI, call, json_body


def tokens(access: str, refresh: str = "R") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "access_token": access,
            "refresh_token": refresh,
            "access_expiration": "2030-01-01T00:00:00Z",
            "refresh_expiration": "2030-01-01T00:00:00Z",
        },
    )


def me_if(token: str) -> Any:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") == f"Bearer {token}":
            return httpx.Response(200, json={"credits": 3})
        return httpx.Response(401, json={"message": "token expired"})

    return answer


async def test_email_and_password_log_in_with_basic_auth_and_empty_body(
    api: MockAPI, make_client: Any
) -> None:
    api.on("POST", "/tokens", tokens("A1"))
    api.on("GET", "/me", me_if("A1"))
    client = make_client(email="me@example.com", password="pw")
    assert (await call(client.me())).credits == 3
    (login,) = api.sent("POST", "/tokens")
    expected = base64.b64encode(b"me@example.com:pw").decode()
    assert login.headers["Authorization"] == f"Basic {expected}"
    assert login.content == b""
    await call(client.me())
    assert len(api.sent("POST", "/tokens")) == 1  # the token is kept


async def test_401_refreshes_once_with_both_tokens_then_repeats_the_request(
    api: MockAPI, make_client: Any
) -> None:
    api.on("PUT", "/tokens", tokens("A2", "R2"))
    api.on("GET", "/me", me_if("A2"))
    client = make_client(access_token="A1", refresh_token="R1")
    assert (await call(client.me())).credits == 3
    (refresh,) = api.sent("PUT", "/tokens")
    assert json_body(refresh) == {"access_token": "A1", "refresh_token": "R1"}
    assert [r.headers["Authorization"] for r in api.sent("GET", "/me")] == [
        "Bearer A1",
        "Bearer A2",
    ]


async def test_the_next_refresh_uses_the_new_one_time_refresh_token(
    api: MockAPI, make_client: Any
) -> None:
    api.on("PUT", "/tokens", tokens("A2", "R2"), tokens("A3", "R3"))
    tokens_seen: list[str] = []

    def me(request: httpx.Request) -> httpx.Response:
        tokens_seen.append(request.headers["Authorization"])
        # Every token works once, then "expires".
        if request.headers["Authorization"] in tokens_seen[:-1]:
            return httpx.Response(401, json={})
        return httpx.Response(200, json={}) if len(tokens_seen) % 2 == 0 else httpx.Response(401)

    api.on("GET", "/me", me)
    client = make_client(access_token="A1", refresh_token="R1")
    await call(client.me())
    await call(client.me())
    refreshes = [json_body(r)["refresh_token"] for r in api.sent("PUT", "/tokens")]
    assert refreshes == ["R1", "R2"]


async def test_failed_refresh_falls_back_to_a_fresh_login(api: MockAPI, make_client: Any) -> None:
    api.on("PUT", "/tokens", httpx.Response(401, json={"message": "refresh token revoked"}))
    api.on("POST", "/tokens", tokens("A1", "R1"), tokens("A2", "R2"))
    api.on("GET", "/me", me_if("A2"))
    client = make_client(email="me@example.com", password="pw")
    assert (await call(client.me())).credits == 3
    assert len(api.sent("POST", "/tokens")) == 2
    assert len(api.sent("PUT", "/tokens")) == 1


async def test_still_401_after_renewing_is_authentication_failed(
    api: MockAPI, make_client: Any
) -> None:
    api.on("PUT", "/tokens", tokens("A2", "R2"))
    api.on("GET", "/me", httpx.Response(401, json={"message": "no"}))
    client = make_client(access_token="A1", refresh_token="R1")
    with pytest.raises(AuthenticationFailed):
        await call(client.me())
    # Renewed and repeated twice, not more; each renewal spends its own refresh token.
    assert len(api.sent("GET", "/me")) == 3
    assert [json_body(r)["refresh_token"] for r in api.sent("PUT", "/tokens")] == ["R1", "R2"]


async def test_a_renewed_token_refused_again_is_renewed_once_more(
    api: MockAPI, make_client: Any
) -> None:
    # A2 is expired (by a concurrent request, say) before the repeat arrives; A3 works.
    api.on("PUT", "/tokens", tokens("A2", "R2"), tokens("A3", "R3"))
    api.on("GET", "/me", me_if("A3"))
    client = make_client(access_token="A1", refresh_token="R1")
    assert (await call(client.me())).credits == 3
    assert [r.headers["Authorization"] for r in api.sent("GET", "/me")] == [
        "Bearer A1",
        "Bearer A2",
        "Bearer A3",
    ]


async def test_static_token_without_refresh_fails_on_first_401(
    api: MockAPI, make_client: Any
) -> None:
    api.on("GET", "/me", httpx.Response(401, json={"message": "expired"}))
    with pytest.raises(AuthenticationFailed, match="expired"):
        await call(make_client(access_token="A1").me())
    assert len(api.requests) == 1


async def test_refused_refresh_without_password_is_authentication_failed(
    api: MockAPI, make_client: Any
) -> None:
    api.on("PUT", "/tokens", httpx.Response(401, json={}))
    api.on("GET", "/me", httpx.Response(401, json={}))
    with pytest.raises(AuthenticationFailed):
        await call(make_client(access_token="A1", refresh_token="R1").me())
    assert api.sent("POST", "/tokens") == []


async def test_wrong_password_is_authentication_failed(api: MockAPI, make_client: Any) -> None:
    api.on("POST", "/tokens", httpx.Response(401, json={"message": "bad credentials"}))
    with pytest.raises(AuthenticationFailed, match="bad credentials"):
        await call(make_client(email="me@example.com", password="wrong").me())
    assert api.sent("GET", "/me") == []


async def test_lost_refresh_answer_is_never_resent_the_next_renewal_logs_in(
    api: MockAPI, make_client: Any
) -> None:
    api.on("PUT", "/tokens", httpx.ReadError("reset"))
    api.on("POST", "/tokens", tokens("A1", "R1"), tokens("A3", "R3"))
    api.on("GET", "/me", me_if("A3"))
    client = make_client(email="me@example.com", password="pw")
    with pytest.raises(TransportError):
        await call(client.me())
    assert (await call(client.me())).credits == 3
    assert len(api.sent("PUT", "/tokens")) == 1  # the spent refresh token was not reused


@pytest.mark.parametrize("kwargs", [{}, {"email": "me@example.com"}, {"password": "pw"}])
def test_missing_credentials_are_invalid_configuration(kwargs: dict[str, str]) -> None:
    with pytest.raises(InvalidConfiguration):
        PiktidClient(BASE_URL, **kwargs)  # type: ignore[arg-type]


def _refresh_counting_api(api: MockAPI, wait: Any) -> list[int]:
    refreshes: list[int] = []

    def refresh(request: httpx.Request) -> httpx.Response:
        refreshes.append(1)
        if json_body(request)["refresh_token"] != "R1":
            return httpx.Response(401, json={"message": "refresh token reused: all revoked"})
        return tokens("A2", "R2")

    api.on("PUT", "/tokens", refresh)
    api.on("GET", "/me", wait)
    return refreshes


def test_concurrent_401s_in_threads_refresh_once() -> None:
    api = MockAPI()
    barrier = threading.Barrier(5)

    def me(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer A2":
            return httpx.Response(200, json={"credits": 1})
        barrier.wait(timeout=5)  # all five requests were sent with the old token
        return httpx.Response(401, json={})

    refreshes = _refresh_counting_api(api, me)
    client = PiktidClient(
        BASE_URL, access_token="A1", refresh_token="R1", transport=httpx.MockTransport(api)
    )
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(client.me())) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(results) == 5
    assert len(refreshes) == 1


async def test_concurrent_401s_in_tasks_refresh_once() -> None:
    api = MockAPI()
    arrived = 0
    all_sent = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal arrived
        if request.url.path.endswith("/me") and request.headers["Authorization"] == "Bearer A1":
            arrived += 1
            if arrived == 5:
                all_sent.set()
            await asyncio.wait_for(all_sent.wait(), 5)
        return api(request)

    refreshes = _refresh_counting_api(api, me_if("A2"))
    client = AsyncPiktidClient(
        BASE_URL,
        access_token="A1",
        refresh_token="R1",
        retry=FAST_RETRY,
        transport=httpx.MockTransport(handler),
    )
    results = await asyncio.gather(*(client.me() for _ in range(5)))
    assert [r.credits for r in results] == [3] * 5
    assert len(refreshes) == 1
    await client.close()
