"""HTTP status and transport failures mapped onto the exception tree, in one place.

A start call whose answer is lost (500/502/504, or a connection dropped after sending)
may have been charged: it becomes :class:`GenerationStartUnconfirmed` carrying the job,
never an error that invites a blind retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from piktid_prefect.wire._retry import parse_retry_after
from piktid_prefect.wire._spec import RequestSpec
from piktid_prefect.wire.errors import (
    AuthenticationFailed,
    BadRequest,
    GenerationStartUnconfirmed,
    ImageNotFound,
    InsufficientCredits,
    RateLimited,
    ServerError,
    TransportError,
    redact,
)
from piktid_prefect.wire.models_chain import StartedJob

__all__ = [
    "START_UNCONFIRMED_STATUSES",
    "check",
    "json_object",
    "malformed",
    "raise_for_status",
    "server_message",
    "transport_error",
    "unconfirmed",
]

# Statuses after which a start request may or may not have been acted upon.
START_UNCONFIRMED_STATUSES = frozenset({500, 502, 504})


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def server_message(response: httpx.Response, secrets: Sequence[str] = ()) -> str:
    """The server's own message (``{message}``, ``{code, message, description}`` or text)."""
    body = _body(response)
    text = ""
    if isinstance(body, dict):
        parts = [body.get(key) for key in ("message", "description", "error", "msg")]
        text = " - ".join(str(part) for part in dict.fromkeys(parts) if part)
    if not text:
        text = response.text.strip()[:300] or response.reason_phrase or "no message"
    return redact(text, *secrets)


def raise_for_status(
    response: httpx.Response,
    *,
    endpoint: str,
    image_id: str | None = None,
    secrets: Sequence[str] = (),
) -> None:
    """Raise the :class:`~piktid_prefect.wire.errors.PiktidAPIError` subclass naming the status.

    Args:
        response: The answer (its body already read).
        endpoint: ``METHOD /path`` for the message.
        image_id: The image the request named: 404/405 then mean ImageNotFound.
        secrets: Credentials to mask if the server echoes them.
    """
    status = response.status_code
    if status < 400:
        return
    message = server_message(response, secrets)
    if status in (401, 403):
        raise AuthenticationFailed(message, status_code=status, endpoint=endpoint)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise RateLimited(
            message, status_code=status, endpoint=endpoint, retry_after_seconds=retry_after
        )
    if status >= 500:
        raise ServerError(message, status_code=status, endpoint=endpoint)
    if status == 402:
        raise InsufficientCredits(message, status_code=status, endpoint=endpoint)
    # PiktID answers 405 as well as 404 for an unknown or expired (24 h) image id.
    if status in (404, 405) and image_id is not None:
        message = f"image {image_id}: {message}"
        raise ImageNotFound(message, status_code=status, endpoint=endpoint)
    raise BadRequest(message, status_code=status, endpoint=endpoint)


def check(response: httpx.Response, spec: RequestSpec[Any], secrets: Sequence[str]) -> None:
    raise_for_status(response, endpoint=spec.endpoint, image_id=spec.image_id, secrets=secrets)


def malformed(response: httpx.Response, spec: RequestSpec[Any], what: str) -> ServerError:
    # A 2xx whose body we cannot use: the server misbehaved, as with a 5xx.
    return ServerError(what, status_code=response.status_code, endpoint=spec.endpoint)


def json_object(response: httpx.Response, spec: RequestSpec[Any]) -> dict[str, Any]:
    body = _body(response)
    if not isinstance(body, dict):
        raise malformed(response, spec, "expected a JSON object in the answer")
    return body


def transport_error(spec: RequestSpec[Any], exc: httpx.TransportError) -> TransportError:
    """The :class:`TransportError` for ``exc``; for a start call that may have arrived,
    :class:`GenerationStartUnconfirmed` carrying the job."""
    detail = f"{spec.endpoint}: {type(exc).__name__}: {redact(str(exc)) or 'no detail'}"
    nothing_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
    if spec.job is not None and not nothing_sent:
        return unconfirmed(spec.job, detail)
    return TransportError(detail)


def unconfirmed(job: StartedJob, detail: str) -> GenerationStartUnconfirmed:
    job = job.model_copy(update={"confirmed": False})
    return GenerationStartUnconfirmed(
        f"The start of {job.label} was sent but its answer was lost ({detail}); wait for its "
        "notification before starting it again",
        job=job,
    )
