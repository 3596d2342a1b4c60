"""Shared fixtures: a recording mock API, sample images, and one client factory per flavour.

Every test that takes ``make_client`` runs twice, against :class:`PiktidClient` and
:class:`AsyncPiktidClient`; ``call`` awaits the async results so one body serves both.
"""

from __future__ import annotations

import email
import inspect
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from piktid_prefect.wire._retry import RetryPolicy
from piktid_prefect.wire.client import AsyncPiktidClient, PiktidClient

BASE_URL = "https://api.test/api"
# Distinctive, so a leak is found by a plain substring search.
SECRET_TOKEN = "tok-SECRET-8c1f2e7d9a"
SECRET_REFRESH = "ref-SECRET-44b2a0c9e1"
SECRET_PASSWORD = "pw-SECRET-d03f5a7c21"
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay_seconds=0.001, max_delay_seconds=0.01)

Handler = Callable[[httpx.Request], httpx.Response]


async def call(result: Any) -> Any:
    """The value of a sync call, or the awaited value of an async one."""
    return await result if inspect.isawaitable(result) else result


class MockAPI:
    """A programmable stand-in for the PiktID API that records every request."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.routes: dict[tuple[str, str], list[Any]] = {}

    def on(self, method: str, path: str, *answers: Any) -> MockAPI:
        """Answer ``method path`` with these answers in turn (the last one repeats).

        An answer is an ``httpx.Response``, an exception to raise, or a callable of the
        request returning either.
        """
        self.routes[(method, path)] = list(answers)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        # A snapshot: the auth flow re-sends the same request object with a new header.
        snapshot = httpx.Request(
            request.method,
            request.url,
            headers=request.headers.copy(),
            content=request.content,
            extensions=dict(request.extensions),
        )
        self.requests.append(snapshot)
        path = request.url.path.removeprefix("/api")
        answers = self.routes.get((request.method, path)) or self.routes.get((request.method, "*"))
        if not answers:
            return httpx.Response(404, json={"message": f"no route {request.method} {path}"})
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if callable(answer) and not isinstance(answer, httpx.Response):
            answer = answer(request)
        if isinstance(answer, BaseException):
            raise answer
        if not hasattr(answer, "_content"):
            return answer  # a streaming answer, built afresh by a callable
        # A fresh copy: a response object cannot be served twice (its stream is consumed).
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [
            r
            for r in self.requests
            if r.method == method and r.url.path.removeprefix("/api") == path
        ]


@pytest.fixture
def api() -> MockAPI:
    return MockAPI()


@pytest.fixture
def make_client(
    flavour: str, api: MockAPI
) -> Iterator[Callable[..., PiktidClient | AsyncPiktidClient]]:
    """Build a client of the current flavour over ``api`` (token auth by default)."""

    def make(**kwargs: Any) -> PiktidClient | AsyncPiktidClient:
        kwargs.setdefault("base_url", BASE_URL)
        if "email" not in kwargs:
            kwargs.setdefault("access_token", SECRET_TOKEN)
        kwargs.setdefault("retry", FAST_RETRY)
        kwargs.setdefault("transport", httpx.MockTransport(api))
        cls = PiktidClient if flavour == "sync" else AsyncPiktidClient
        return cls(**kwargs)

    yield make


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (32, 24)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def png() -> bytes:
    return image_bytes("PNG")


def upload_answer(image_id: str = "img-1", persons: list[dict[str, Any]] | None = None) -> Any:
    persons = (
        [{"id": 0, "approve": True}, {"id": 1, "approve": False}] if persons is None else persons
    )
    return httpx.Response(
        200,
        json={"id_image": image_id, "num_persons": len(persons), "coordinates_list": persons},
    )


def multipart(request: httpx.Request) -> dict[str, tuple[str | None, bytes]]:
    """The parts of a multipart request: name -> (filename, content)."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.message_from_bytes(head + request.content)
    parts = {}
    for part in message.get_payload():  # type: ignore[union-attr]
        name = part.get_param("name", header="content-disposition")
        parts[name] = (part.get_filename(), part.get_payload(decode=True))
    return parts


def json_body(request: httpx.Request) -> Any:
    return json.loads(request.content)
