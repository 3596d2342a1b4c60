"""Injected faults: a seeded RNG decides, per request, which configured faults fire.

Also the ASGI middleware that applies the faults that happen around a request (status
codes and dropped connections before processing, a lost answer after it, slow answers,
token expiry) and counts every request.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Callable
from typing import Any

from piktid_prefect.emulator.accounts import AccountBook
from piktid_prefect.emulator.clock import VirtualClock
from piktid_prefect.emulator.config import EmulatorConfig, FaultConfig, FaultKind
from piktid_prefect.emulator.stats import StatsRecorder

__all__ = ["DroppedConnection", "FaultInjector", "FaultMiddleware", "api_path"]

_STATUS_KINDS: tuple[FaultKind, ...] = (
    "http_429",
    "http_500",
    "http_502",
    "http_503",
    "drop_connection",
)
START_PATHS = frozenset(
    {
        "/edit/generate",
        "/edit/background",
        "/superid/v2",
        "/superid_fast",
        "/consistent_identities/generate",
    }
)

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


class DroppedConnection(Exception):
    """Raised inside the ASGI app so the server closes a half-sent response."""


class FaultInjector:
    """Decides which faults fire, reproducibly for a given :class:`FaultConfig`.

    Args:
        config: The emulator configuration; its ``faults`` field is read at each decision.
        recorder: Counts every fault that fires.
    """

    def __init__(self, config: EmulatorConfig, recorder: StatsRecorder) -> None:
        self._lock = threading.Lock()
        self._recorder = recorder
        self._config = config
        self._seen = config.faults
        self._rng = random.Random(config.faults.seed)

    @property
    def faults(self) -> FaultConfig:
        """The configuration in force (``config.faults``, read at every decision)."""
        with self._lock:
            return self._current()

    def configure(self, faults: FaultConfig) -> None:
        """Replace the configuration and restart its RNG from its seed."""
        with self._lock:
            self._config.faults = faults
            self._current()

    def _current(self) -> FaultConfig:
        # Assigning ``config.faults`` directly works too: a new object restarts the RNG.
        faults = self._config.faults
        if faults is not self._seen:
            self._seen = faults
            self._rng = random.Random(faults.seed)
        return faults

    def fires(self, kind: FaultKind, path: str, email: str | None) -> bool:
        """Roll for ``kind`` on ``path``; count it when it fires."""
        with self._lock:
            faults = self._current()
            rate = faults.rate(kind)
            if rate <= 0 or not faults.applies_to(path):
                return False
            # Only configured kinds consume random numbers, so enabling one kind does not
            # reshuffle the sequence of another.
            fired = self._rng.random() < rate
        if fired:
            self._recorder.fault(email, kind)
        return fired

    def first_status_fault(self, path: str, email: str | None) -> FaultKind | None:
        """The pre-processing fault (status code or dropped connection) that fires, if any."""
        for kind in _STATUS_KINDS:
            if self.fires(kind, path, email):
                return kind
        return None

    def shuffle(self, items: list[Any]) -> list[Any]:
        """``items`` in a different order (reversed if shuffling happens to keep it)."""
        with self._lock:
            shuffled = list(items)
            self._rng.shuffle(shuffled)
        return shuffled if shuffled != items else list(reversed(items))


def api_path(path: str) -> str:
    """The path without the ``/api`` prefix; result files collapse to ``/files``."""
    if path.startswith("/api/"):
        return path[4:]
    if path.startswith("/files/"):
        return "/files"
    return path


class FaultMiddleware:
    """ASGI middleware: counts requests and applies request-level faults.

    Args:
        app: The wrapped ASGI app.
        injector: Decides the faults.
        accounts: Resolves the bearer token's account (for per-account statistics).
        recorder: Counts requests.
        clock: Scales delays.
    """

    def __init__(
        self,
        app: Any,
        *,
        injector: FaultInjector,
        accounts: AccountBook,
        recorder: StatsRecorder,
        clock: VirtualClock,
    ) -> None:
        self._app = app
        self._injector = injector
        self._accounts = accounts
        self._recorder = recorder
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        path = api_path(scope["path"])
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        authorization = headers.get("authorization")
        email = self._accounts.owner_of(authorization)
        self._recorder.request(email, f"{scope['method']} {path}")
        injector = self._injector
        if injector.fires("slow_response", path, email):
            seconds = injector.faults.slow_response_seconds
            await asyncio.sleep(self._clock.real_seconds(seconds))
        kind = injector.first_status_fault(path, email)
        if kind == "drop_connection":
            await _abort(send)
        elif kind is not None:
            await _send_status(send, int(kind.removeprefix("http_")), self._clock)
            return
        is_start = scope["method"] == "POST" and path in START_PATHS
        if is_start and injector.fires("lose_response_after_start", path, email):
            await self._app(scope, receive, _swallow)
            await _abort(send)
        await self._app(scope, receive, send)
        if email is not None and injector.fires("expire_token", path, email):
            self._accounts.expire_access(authorization.split(" ", 1)[1].strip())  # type: ignore[union-attr]


async def _swallow(message: dict[str, Any]) -> None:
    """An ASGI ``send`` that discards the answer (it is lost on the way back)."""


async def _abort(send: Send) -> None:
    # Announce a body, send part of it, then fail: uvicorn closes the socket and the
    # client sees a transport error (an incomplete message), not an HTTP status.
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"1024")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"', "more_body": True})
    raise DroppedConnection("connection dropped by fault injection")


async def _send_status(send: Send, status: int, clock: VirtualClock) -> None:
    body = json.dumps(
        {"code": status, "message": f"Injected fault: HTTP {status}", "description": "Fault"}
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 429:
        headers.append((b"retry-after", f"{clock.real_seconds(1.0):.3f}".encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
