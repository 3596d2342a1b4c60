"""Result links are downloaded without credentials, atomically when written to a path."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import pytest

from piktid_prefect.wire.errors import BadRequest, TransportError
from piktid_prefect.wire.models import ResultLink
from tests.client.conftest import FAST_RETRY, SECRET_TOKEN, MockAPI, call

LINK = "https://cdn.test/results/out.jpg?signature=abc"
BODY = b"\xff\xd8\xff" + b"result" * 1000


async def test_download_returns_bytes_and_sends_no_credentials(
    api: MockAPI, make_client: Any
) -> None:
    api.on("GET", "*", httpx.Response(200, content=BODY))
    data = await call(make_client().download(ResultLink(l=LINK)))
    assert data == BODY
    (request,) = api.requests
    assert str(request.url) == LINK
    assert "Authorization" not in request.headers
    assert SECRET_TOKEN not in str(request.headers)


async def test_download_into_a_file_object(api: MockAPI, make_client: Any) -> None:
    api.on("GET", "*", httpx.Response(200, content=BODY))
    sink = io.BytesIO()
    assert await call(make_client().download(LINK, sink)) is None
    assert sink.getvalue() == BODY


async def test_download_to_a_path_writes_the_whole_file(
    api: MockAPI, make_client: Any, tmp_path: Path
) -> None:
    api.on("GET", "*", httpx.Response(200, content=BODY))
    target = tmp_path / "sub" / "out.jpg"
    assert await call(make_client().download(LINK, target)) == target
    assert target.read_bytes() == BODY
    assert [p.name for p in target.parent.iterdir()] == ["out.jpg"]


class _BrokenStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """Sends a first chunk, then the connection drops."""

    def __iter__(self) -> Any:
        yield b"partial"
        raise httpx.ReadError("connection reset")

    async def __aiter__(self) -> Any:
        yield b"partial"
        raise httpx.ReadError("connection reset")


async def test_failed_download_leaves_no_partial_and_keeps_the_old_file(
    api: MockAPI, make_client: Any, tmp_path: Path
) -> None:
    api.on("GET", "*", lambda request: httpx.Response(200, stream=_BrokenStream()))
    target = tmp_path / "out.jpg"
    target.write_bytes(b"earlier result")
    with pytest.raises(TransportError):
        await call(make_client().download(LINK, target))
    assert target.read_bytes() == b"earlier result"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jpg"]


async def test_expired_link_is_an_error_without_the_signed_query(
    api: MockAPI, make_client: Any, tmp_path: Path
) -> None:
    api.on("GET", "*", httpx.Response(404, text="NoSuchKey"))
    target = tmp_path / "out.jpg"
    with pytest.raises(BadRequest) as info:
        await call(make_client().download(LINK, target))
    assert "signature" not in str(info.value)
    assert "GET /results/out.jpg" in str(info.value)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


async def test_download_is_retried_on_a_transient_status(api: MockAPI, make_client: Any) -> None:
    api.on("GET", "*", httpx.Response(503), httpx.Response(200, content=BODY))
    assert await call(make_client().download(LINK)) == BODY


def _broken(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, stream=_BrokenStream())


async def test_a_download_whose_body_broke_is_sent_again(
    api: MockAPI, make_client: Any, tmp_path: Path
) -> None:
    api.on("GET", "*", _broken, httpx.Response(200, content=BODY))
    target = tmp_path / "out.jpg"
    assert await call(make_client().download(LINK, target)) == target
    assert target.read_bytes() == BODY
    assert len(api.requests) == 2


async def test_a_download_makes_at_most_max_attempts_in_all(api: MockAPI, make_client: Any) -> None:
    """Statuses the transport repeats and bodies the client re-sends share one bound."""
    api.on("GET", "*", httpx.Response(503), _broken)
    with pytest.raises(TransportError):
        await call(make_client().download(LINK))
    assert len(api.requests) == FAST_RETRY.max_attempts


async def test_a_download_into_a_file_object_is_not_sent_again_after_its_body_broke(
    api: MockAPI, make_client: Any
) -> None:
    """What reached the caller's file cannot be taken back: the error is the caller's."""
    api.on("GET", "*", _broken, httpx.Response(200, content=BODY))
    with pytest.raises(TransportError):
        await call(make_client().download(LINK, io.BytesIO()))
    assert len(api.requests) == 1
