"""Retries of transient faults, in one place: a transport that wraps httpx's own.

The decision (:func:`should_retry`) and the delay (:meth:`RetryPolicy.delay_seconds`) are
written once; :class:`RetryTransport` and :class:`AsyncRetryTransport` differ only in the
line that sleeps and the lines that send.

One bound: a call makes at most ``RetryPolicy.max_attempts`` attempts in all. A download
whose body broke after its status line is sent again by the client (the transport has
returned by then); its requests share one :class:`Attempts`, so those re-sends count
against the same bound. Nothing above the wire repeats an HTTP call.

Every request says whether it is safe to repeat through the ``piktid_safe_to_repeat``
request extension (set by :mod:`piktid_prefect.wire._spec`); a request that does not say is
treated as unsafe. Safe requests are retried on 429/502/503/504 and on any transport
error. Unsafe requests (the two calls that start a paid generation, and the one-time
token refresh) are retried only when the server cannot have acted on them: the
connection was never made (nothing was sent), or it answered 429/503 (it said it did not
process the request).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from datetime import datetime, timezone

import httpx
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ATTEMPTS",
    "SAFE_TO_REPEAT",
    "STREAMED",
    "AsyncRetryTransport",
    "Attempts",
    "RetryPolicy",
    "RetryTransport",
    "parse_retry_after",
    "should_retry",
]

logger = logging.getLogger("piktid_prefect.wire.client")

SAFE_TO_REPEAT = "piktid_safe_to_repeat"
# Set on downloads: their body is streamed by the caller, so it is not read here.
STREAMED = "piktid_streamed"
# Set on the requests of one call that may be sent more than once by the client.
ATTEMPTS = "piktid_attempts"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# The server itself says it did not process the request: repeating cannot run it twice.
NOT_PROCESSED_STATUSES = frozenset({429, 503})
# Raised before a byte of the request left this machine.
NOTHING_SENT_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)


class RetryPolicy(BaseModel):
    """Bounded exponential backoff with jitter for transient faults.

    Attempt ``n`` (1-based, counting retries) waits ``base_delay_seconds * 2**(n-1)``,
    capped at ``max_delay_seconds``, spread by ``±jitter`` so that many clients do not
    retry in lockstep. A ``Retry-After`` longer than the computed delay wins; one longer
    than ``max_delay_seconds`` ends the retries (the caller gets ``RateLimited`` with
    ``retry_after_seconds`` and can decide).
    """

    model_config = ConfigDict(frozen=True)

    # The one bound on a call's attempts (no layer above repeats a call). Ten: a download
    # of an output already paid for keeps trying for about two minutes of backoff
    # (0.5 s doubling to 30 s); at five, a run with 40 % of requests faulted lost about
    # one run in six to a download that failed five times (tests/flows/test_flows.py).
    max_attempts: int = Field(
        default=10, ge=1, description="Attempts in total, the first included."
    )
    base_delay_seconds: float = Field(
        default=0.5, ge=0.0, description="Delay before the first retry."
    )
    max_delay_seconds: float = Field(default=30.0, ge=0.0, description="Longest single delay.")
    jitter: float = Field(default=0.2, ge=0.0, le=1.0, description="Relative spread of each delay.")

    def delay_seconds(self, retry: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait before retry number ``retry`` (1-based), or None to give up."""
        if retry >= self.max_attempts:
            return None
        if retry_after is not None and retry_after > self.max_delay_seconds:
            return None
        backoff = min(self.max_delay_seconds, self.base_delay_seconds * 2 ** (retry - 1))
        backoff *= 1.0 + self.jitter * random.uniform(-1.0, 1.0)
        return float(max(backoff, retry_after or 0.0))


class Attempts:
    """The attempts of one call, across its requests, held against ``max_attempts``."""

    __slots__ = ("made",)

    def __init__(self) -> None:
        self.made = 0

    def again_after_body_error(self, policy: RetryPolicy, request: httpx.Request) -> float | None:
        """Seconds before a call whose body broke is made again; None: attempts used up."""
        return _next_delay(policy, self.made, request, None)


def _attempts_of(request: httpx.Request) -> Attempts:
    shared = request.extensions.get(ATTEMPTS)
    return shared if isinstance(shared, Attempts) else Attempts()


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date; None if absent/bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def should_retry(
    request: httpx.Request,
    *,
    status_code: int | None = None,
    error: httpx.TransportError | None = None,
) -> bool:
    """Whether this outcome of ``request`` may be repeated without risk."""
    safe = bool(request.extensions.get(SAFE_TO_REPEAT, False))
    if error is not None:
        return safe or isinstance(error, NOTHING_SENT_ERRORS)
    if status_code is None:
        return False
    return status_code in (RETRY_STATUSES if safe else NOT_PROCESSED_STATUSES)


def _reads_body_here(request: httpx.Request) -> bool:
    # A connection dropped while the body arrives is as transient as one dropped before the
    # status line, but httpx reads the body after the transport returned: read it here so
    # such a drop is retried too (safe calls only; streamed downloads are read by the caller).
    return bool(request.extensions.get(SAFE_TO_REPEAT)) and not request.extensions.get(STREAMED)


def _next_delay(
    policy: RetryPolicy, retry: int, request: httpx.Request, response: httpx.Response | None
) -> float | None:
    retry_after = None
    if response is not None:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
    delay = policy.delay_seconds(retry, retry_after)
    if delay is not None:
        cause = f"HTTP {response.status_code}" if response is not None else "a transport error"
        logger.info(
            "%s %s: %s, retry %d in %.2f s",
            request.method,
            request.url.path,
            cause,
            retry,
            delay,
        )
    return delay


# Module-level so tests can record the delays instead of sleeping.
def _sleep(seconds: float) -> None:
    time.sleep(seconds)


async def _asleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


class RetryTransport(httpx.BaseTransport):
    """Wraps a sync transport and repeats what :func:`should_retry` allows."""

    def __init__(self, transport: httpx.BaseTransport, policy: RetryPolicy) -> None:
        self._transport = transport
        self._policy = policy

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()  # a multipart body must be re-sendable
        attempts = _attempts_of(request)
        while True:
            attempts.made += 1
            retry = attempts.made
            try:
                response = self._transport.handle_request(request)
                if _reads_body_here(request):
                    response.read()
            except httpx.TransportError as exc:
                if not should_retry(request, error=exc):
                    raise
                delay = _next_delay(self._policy, retry, request, None)
                if delay is None:
                    raise
            else:
                if not should_retry(request, status_code=response.status_code):
                    return response
                delay = _next_delay(self._policy, retry, request, response)
                if delay is None:
                    return response
                response.close()
            _sleep(delay)

    def close(self) -> None:
        self._transport.close()


class AsyncRetryTransport(httpx.AsyncBaseTransport):
    """Wraps an async transport and repeats what :func:`should_retry` allows."""

    def __init__(self, transport: httpx.AsyncBaseTransport, policy: RetryPolicy) -> None:
        self._transport = transport
        self._policy = policy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()  # a multipart body must be re-sendable
        attempts = _attempts_of(request)
        while True:
            attempts.made += 1
            retry = attempts.made
            try:
                response = await self._transport.handle_async_request(request)
                if _reads_body_here(request):
                    await response.aread()
            except httpx.TransportError as exc:
                if not should_retry(request, error=exc):
                    raise
                delay = _next_delay(self._policy, retry, request, None)
                if delay is None:
                    raise
            else:
                if not should_retry(request, status_code=response.status_code):
                    return response
                delay = _next_delay(self._policy, retry, request, response)
                if delay is None:
                    return response
                await response.aclose()
            await _asleep(delay)

    async def aclose(self) -> None:
        await self._transport.aclose()
