"""Transient faults are retried with backoff, but a paid start is never sent twice."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from piktid_prefect.wire import _retry
from piktid_prefect.wire._retry import RetryPolicy, parse_retry_after
from piktid_prefect.wire.errors import (
    GenerationStartUnconfirmed,
    RateLimited,
    ServerError,
    TransportError,
    is_transient,
)
from piktid_prefect.wire.models import GenerationJob
from tests.client.conftest import MockAPI, call

ME = httpx.Response(200, json={"credits": 1})
PERSON = ("img-1", 0, {"Location": "Oceania"})


@pytest.fixture
def delays(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the backoff delays instead of sleeping them."""
    seen: list[float] = []

    async def asleep(seconds: float) -> None:
        seen.append(seconds)

    monkeypatch.setattr(_retry, "_sleep", seen.append)
    monkeypatch.setattr(_retry, "_asleep", asleep)
    return seen


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_safe_call_is_retried_on_transient_status(
    api: MockAPI, make_client: Any, delays: list[float], status: int
) -> None:
    api.on("GET", "/me", httpx.Response(status, json={}), httpx.Response(status, json={}), ME)
    assert (await call(make_client().me())).credits == 1
    assert len(api.requests) == 3
    assert len(delays) == 2


async def test_retry_after_is_honoured(api: MockAPI, make_client: Any, delays: list[float]) -> None:
    policy = RetryPolicy(max_attempts=3, base_delay_seconds=0.001, max_delay_seconds=5.0)
    api.on("GET", "/me", httpx.Response(429, headers={"Retry-After": "2.5"}, json={}), ME)
    await call(make_client(retry=policy).me())
    assert delays == [2.5]


async def test_backoff_grows_exponentially_and_is_capped(
    api: MockAPI, make_client: Any, delays: list[float]
) -> None:
    policy = RetryPolicy(max_attempts=5, base_delay_seconds=1.0, max_delay_seconds=3.0, jitter=0)
    api.on("GET", "/me", httpx.Response(503, json={}))
    with pytest.raises(ServerError):
        await call(make_client(retry=policy).me())
    assert delays == [1.0, 2.0, 3.0, 3.0]
    assert len(api.requests) == 5


def test_jitter_spreads_delays_within_bounds() -> None:
    policy = RetryPolicy(base_delay_seconds=1.0, jitter=0.2)
    samples = {policy.delay_seconds(1) for _ in range(50)}
    assert all(0.8 <= s <= 1.2 for s in samples if s is not None)
    assert len(samples) > 1


async def test_exhausted_retries_raise_rate_limited(
    api: MockAPI, make_client: Any, delays: list[float]
) -> None:
    api.on("GET", "/me", httpx.Response(429, json={"message": "slow down"}))
    with pytest.raises(RateLimited) as info:
        await call(make_client().me())
    assert len(api.requests) == 4  # FAST_RETRY.max_attempts
    assert is_transient(info.value)


@pytest.mark.parametrize(
    "error", [httpx.ReadError("reset"), httpx.ConnectError("refused"), httpx.ReadTimeout("slow")]
)
async def test_safe_call_is_retried_after_connection_errors(
    api: MockAPI, make_client: Any, delays: list[float], error: Exception
) -> None:
    api.on("GET", "/me", error, ME)
    assert (await call(make_client().me())).credits == 1
    assert len(api.requests) == 2


async def test_uploads_and_notification_calls_are_retried(
    api: MockAPI, make_client: Any, delays: list[float], png: bytes
) -> None:
    from tests.client.conftest import multipart, upload_answer

    api.on("POST", "/edit/target", httpx.Response(502), upload_answer())
    api.on(
        "POST",
        "/notification_by_name_json",
        httpx.ReadError("reset"),
        httpx.Response(200, json={"notifications_list": []}),
    )
    client = make_client()
    await call(client.upload_target(png))
    await call(client.notifications())
    first, second = api.sent("POST", "/edit/target")
    assert multipart(first)["file"][1] == multipart(second)["file"][1] == png


@pytest.mark.parametrize(
    "lost",
    [
        httpx.ReadTimeout("no answer"),
        httpx.ReadError("connection reset"),
        httpx.RemoteProtocolError("server disconnected"),
        httpx.WriteError("broken pipe"),
        httpx.Response(500, json={}),
        httpx.Response(502, text="bad gateway"),
        httpx.Response(504, text="gateway timeout"),
    ],
    ids=lambda x: type(x).__name__ if isinstance(x, Exception) else f"HTTP{x.status_code}",
)
@pytest.mark.parametrize("kind", ["person", "background"])
async def test_start_with_lost_answer_is_never_resent_and_reports_the_job(
    api: MockAPI, make_client: Any, delays: list[float], lost: Any, kind: str
) -> None:
    api.on("POST", "/edit/generate", lost)
    api.on("POST", "/edit/background", lost)
    client = make_client()
    with pytest.raises(GenerationStartUnconfirmed) as info:
        if kind == "person":
            await call(client.generate_person(*PERSON, options={"seed": 3}))
        else:
            await call(client.edit_background("img-1", {"florals": "Roses"}))
    assert len(api.requests) == 1
    job = info.value.job
    assert isinstance(job, GenerationJob)
    assert job.confirmed is False
    assert job.kind == kind
    assert job.image_id == "img-1"
    assert not is_transient(info.value)
    assert isinstance(info.value, TransportError)


@pytest.mark.parametrize(
    "not_sent",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("no route")],
    ids=["ConnectError", "ConnectTimeout"],
)
async def test_start_is_retried_when_nothing_was_sent(
    api: MockAPI, make_client: Any, delays: list[float], not_sent: Exception
) -> None:
    api.on("POST", "/edit/generate", not_sent, httpx.Response(200, json={}))
    job = await call(make_client().generate_person(*PERSON))
    assert job.confirmed
    assert len(api.requests) == 2


@pytest.mark.parametrize("status", [429, 503])
async def test_start_is_retried_when_the_server_says_it_did_not_process_it(
    api: MockAPI, make_client: Any, delays: list[float], status: int
) -> None:
    api.on("POST", "/edit/background", httpx.Response(status, json={}), httpx.Response(200))
    job = await call(make_client().edit_background("img-1", prompt="a beach"))
    assert job.confirmed
    assert len(api.requests) == 2


async def test_start_refused_until_exhausted_is_a_definite_error_not_unconfirmed(
    api: MockAPI, make_client: Any, delays: list[float]
) -> None:
    api.on("POST", "/edit/generate", httpx.ConnectError("refused"))
    with pytest.raises(TransportError) as info:
        await call(make_client().generate_person(*PERSON))
    assert not isinstance(info.value, GenerationStartUnconfirmed)
    assert len(api.requests) == 4


def test_retry_after_parsing() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.25") == 0.25
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past


async def test_safe_call_is_retried_when_the_body_is_cut_off(
    api: MockAPI, make_client: Any, delays: list[float]
) -> None:
    from tests.client.test_download import _BrokenStream

    api.on("GET", "/me", lambda request: httpx.Response(200, stream=_BrokenStream()), ME)
    assert (await call(make_client().me())).credits == 1
    assert len(api.requests) == 2
