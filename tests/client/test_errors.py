"""Each failure surfaces as the one error class that names it, never with a credential."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from piktid_prefect.wire.errors import (
    AuthenticationFailed,
    BadRequest,
    ImageNotFound,
    PiktidAPIError,
    RateLimited,
    ServerError,
    TransportError,
)
from tests.client.conftest import SECRET_TOKEN, MockAPI, call


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthenticationFailed),
        (403, AuthenticationFailed),
        (400, BadRequest),
        (422, BadRequest),
        (500, ServerError),
        (501, ServerError),
    ],
)
async def test_status_maps_to_its_error_class(
    api: MockAPI, make_client: Any, status: int, error: type[PiktidAPIError]
) -> None:
    api.on("GET", "/me", httpx.Response(status, json={"code": status, "message": "nope"}))
    with pytest.raises(error) as info:
        await call(make_client().me())
    assert info.value.status_code == status
    assert info.value.endpoint == "GET /me"
    assert "nope" in str(info.value)


@pytest.mark.parametrize("status", [404, 405])
async def test_unknown_or_expired_image_is_image_not_found(
    api: MockAPI, make_client: Any, status: int
) -> None:
    api.on("POST", "/edit/background", httpx.Response(status, json={"message": "no image"}))
    with pytest.raises(ImageNotFound, match="img-9"):
        await call(make_client().edit_background("img-9", {"seasonal": "Winter"}))


async def test_404_on_a_request_without_image_is_a_plain_bad_request(
    api: MockAPI, make_client: Any
) -> None:
    api.on("GET", "/me", httpx.Response(404, text="Not here"))
    with pytest.raises(BadRequest) as info:
        await call(make_client().me())
    assert not isinstance(info.value, ImageNotFound)
    assert "Not here" in info.value.message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"code": 400, "message": "bad id", "description": "id unknown"}, "bad id - id unknown"),
        ({"message": "just this"}, "just this"),
        ("plain text failure", "plain text failure"),
    ],
)
async def test_bad_request_carries_the_server_message(
    api: MockAPI, make_client: Any, body: Any, expected: str
) -> None:
    answer = (
        httpx.Response(400, json=body) if isinstance(body, dict) else httpx.Response(400, text=body)
    )
    api.on("GET", "/me", answer)
    with pytest.raises(BadRequest) as info:
        await call(make_client().me())
    assert info.value.message == expected


async def test_rate_limited_carries_retry_after_seconds(api: MockAPI, make_client: Any) -> None:
    # Longer than the policy's max delay: the client gives up and reports it.
    api.on("GET", "/me", httpx.Response(429, headers={"Retry-After": "120"}, json={}))
    with pytest.raises(RateLimited) as info:
        await call(make_client().me())
    assert info.value.retry_after_seconds == 120.0
    assert len(api.requests) == 1


async def test_retry_after_as_http_date_is_understood(api: MockAPI, make_client: Any) -> None:
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=90), usegmt=True)
    api.on("GET", "/me", httpx.Response(429, headers={"Retry-After": when}, json={}))
    with pytest.raises(RateLimited) as info:
        await call(make_client().me())
    assert info.value.retry_after_seconds is not None
    assert 80 <= info.value.retry_after_seconds <= 90


async def test_transport_failure_is_a_chained_transport_error(
    api: MockAPI, make_client: Any
) -> None:
    api.on("GET", "/me", httpx.ReadError("connection reset by peer"))
    with pytest.raises(TransportError) as info:
        await call(make_client().me())
    assert isinstance(info.value.__cause__, httpx.ReadError)
    assert "GET /me" in str(info.value)


async def test_malformed_success_answer_is_a_server_error(api: MockAPI, make_client: Any) -> None:
    api.on("POST", "/edit/target", httpx.Response(200, json={"nothing": "useful"}))
    with pytest.raises(ServerError, match="id_image"):
        await call(make_client().upload_target("https://images.example/a.png"))
    api.on("POST", "/edit/reference", httpx.Response(200, text="<html>"))
    with pytest.raises(ServerError):
        await call(make_client().upload_reference(_png()))


def _png() -> bytes:
    from tests.client.conftest import image_bytes

    return image_bytes()


async def test_a_server_echoing_the_token_never_leaks_it(api: MockAPI, make_client: Any) -> None:
    echo = {"message": f"token {SECRET_TOKEN} is invalid", "description": f"Bearer {SECRET_TOKEN}"}
    api.on("GET", "/me", httpx.Response(400, json=echo))
    with pytest.raises(BadRequest) as info:
        await call(make_client().me())
    assert SECRET_TOKEN not in str(info.value)
    assert SECRET_TOKEN not in info.value.message
    assert SECRET_TOKEN not in repr(info.value)


async def test_secrets_never_in_repr_or_auth_failure(api: MockAPI, make_client: Any) -> None:
    from tests.client.conftest import SECRET_PASSWORD

    api.on("POST", "/tokens", httpx.Response(401, json={"message": f"bad {SECRET_PASSWORD}"}))
    client = make_client(email="me@example.com", password=SECRET_PASSWORD)
    text = repr(client) + repr(client._auth)
    with pytest.raises(AuthenticationFailed) as info:
        await call(client.me())
    text += str(info.value) + repr(info.value) + repr(vars(info.value))
    assert SECRET_PASSWORD not in text
    assert SECRET_TOKEN not in repr(make_client())
