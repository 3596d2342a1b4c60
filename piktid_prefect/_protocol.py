"""The PiktID wire protocol as pure functions: request builders and response parsers.

Each endpoint is written once here. A builder validates its input (nothing is sent when
it raises) and returns a :class:`RequestSpec`: what to send, whether repeating it is
safe, and the parser that turns the answer into a model or raises through the single
:func:`raise_for_status`. The sync and async clients only send specs and hand the answers
to ``spec.parse``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from piktid_prefect._retry import SAFE_TO_REPEAT, STREAMED, parse_retry_after
from piktid_prefect.errors import (
    AuthenticationFailed,
    BadRequest,
    GenerationStartUnconfirmed,
    ImageNotFound,
    InvalidInput,
    InvalidKeyword,
    InvalidPerson,
    RateLimited,
    ServerError,
    TransportError,
    redact,
)
from piktid_prefect.images import ImagePayload, check_link_url
from piktid_prefect.keywords import validate_background_keyword, validate_person_keyword
from piktid_prefect.models import (
    Account,
    BackgroundOptions,
    GenerationJob,
    JobKind,
    Notification,
    PersonOptions,
    ResultLink,
    UploadOptions,
    UploadResult,
)

__all__ = [
    "SAFE_TO_REPEAT",
    "RequestSpec",
    "Timeouts",
    "raise_for_status",
    "to_request",
    "transport_error",
]

logger = logging.getLogger("piktid_prefect.client")

T = TypeVar("T")
TimeoutKind = Literal["read", "upload", "download"]
Parser = Callable[[httpx.Response, "RequestSpec[Any]", Sequence[str]], T]
# Statuses after which a start request may or may not have been acted upon.
_START_UNCONFIRMED_STATUSES = frozenset({500, 502, 504})


class Timeouts(BaseModel):
    """Explicit timeouts in seconds (httpx's implicit 5 s is too short for image work)."""

    model_config = ConfigDict(frozen=True)

    connect_seconds: float = Field(default=10.0, gt=0, description="Opening a connection.")
    read_seconds: float = Field(default=60.0, gt=0, description="Any ordinary API call.")
    upload_seconds: float = Field(default=120.0, gt=0, description="Uploads (with detection).")
    download_seconds: float = Field(default=300.0, gt=0, description="Downloading a result.")

    def for_kind(self, kind: TimeoutKind) -> httpx.Timeout:
        """The httpx timeout of one kind of request."""
        seconds = {
            "read": self.read_seconds,
            "upload": self.upload_seconds,
            "download": self.download_seconds,
        }[kind]
        return httpx.Timeout(seconds, connect=self.connect_seconds)


@dataclass(frozen=True)
class RequestSpec(Generic[T]):
    """One request, described without doing I/O.

    Attributes:
        method: HTTP method.
        path: Path under the base URL, or an absolute URL (downloads).
        parse: Turns the answer into the endpoint's result, or raises.
        safe_to_repeat: Whether a retry cannot cause a second effect (a second charge).
        timeout: Which of the :class:`Timeouts` applies.
        image_id: The image the request names, so 404/405 become ImageNotFound.
        job: For start calls, the job being started (reported if the answer is lost).
    """

    method: str
    path: str
    parse: Parser[T] = field(repr=False)
    safe_to_repeat: bool = True
    timeout: TimeoutKind = "read"
    json: Mapping[str, Any] | None = None
    data: Mapping[str, str] | None = None
    files: Mapping[str, tuple[str, bytes, str]] | None = field(default=None, repr=False)
    image_id: str | None = None
    job: GenerationJob | None = None

    @property
    def endpoint(self) -> str:
        """``METHOD /path``, without host or query (safe to show in errors)."""
        return f"{self.method} {httpx.URL(self.path).path}"


def to_request(
    http: httpx.Client | httpx.AsyncClient, spec: RequestSpec[Any], timeouts: Timeouts
) -> httpx.Request:
    """Build the ``httpx.Request`` of ``spec`` on ``http`` (its base URL and auth apply)."""
    extensions: dict[str, Any] = {SAFE_TO_REPEAT: spec.safe_to_repeat}
    if spec.timeout == "download":
        # Built apart from the client: result links are public, so no cookie from the
        # client's jar (PiktID may set the refresh token as a cookie). Send with auth=None.
        timeout = timeouts.for_kind("download").as_dict()
        extensions.update({"timeout": timeout, STREAMED: True})
        return httpx.Request(spec.method, spec.path, extensions=extensions)
    return http.build_request(
        spec.method,
        spec.path,
        json=spec.json,
        data=spec.data,
        files=spec.files,
        timeout=timeouts.for_kind(spec.timeout),
        extensions=extensions,
    )


# --- errors -------------------------------------------------------------------------------


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
    """Raise the :class:`~piktid_prefect.errors.PiktidAPIError` subclass naming the status.

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
    # PiktID answers 405 as well as 404 for an unknown or expired (24 h) image id.
    if status in (404, 405) and image_id is not None:
        message = f"image {image_id}: {message}"
        raise ImageNotFound(message, status_code=status, endpoint=endpoint)
    raise BadRequest(message, status_code=status, endpoint=endpoint)


def _check(response: httpx.Response, spec: RequestSpec[Any], secrets: Sequence[str]) -> None:
    raise_for_status(response, endpoint=spec.endpoint, image_id=spec.image_id, secrets=secrets)


def _malformed(response: httpx.Response, spec: RequestSpec[Any], what: str) -> ServerError:
    # A 2xx whose body we cannot use: the server misbehaved, as with a 5xx.
    return ServerError(what, status_code=response.status_code, endpoint=spec.endpoint)


def _json_object(response: httpx.Response, spec: RequestSpec[Any]) -> dict[str, Any]:
    body = _body(response)
    if not isinstance(body, dict):
        raise _malformed(response, spec, "expected a JSON object in the answer")
    return body


def transport_error(spec: RequestSpec[Any], exc: httpx.TransportError) -> TransportError:
    """The :class:`TransportError` for ``exc``; for a start call that may have arrived,
    :class:`GenerationStartUnconfirmed` carrying the job."""
    detail = f"{spec.endpoint}: {type(exc).__name__}: {redact(str(exc)) or 'no detail'}"
    nothing_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
    if spec.job is not None and not nothing_sent:
        return _unconfirmed(spec.job, detail)
    return TransportError(detail)


def _unconfirmed(job: GenerationJob, detail: str) -> GenerationStartUnconfirmed:
    job = job.model_copy(update={"confirmed": False})
    return GenerationStartUnconfirmed(
        f"The start of {job.label} was sent but its answer was lost ({detail}); wait for its "
        "notification before starting it again",
        job=job,
    )


# --- parsers ------------------------------------------------------------------------------


def _parse_upload(
    response: httpx.Response, spec: RequestSpec[Any], secrets: Sequence[str]
) -> UploadResult:
    _check(response, spec, secrets)
    try:
        return UploadResult.model_validate(_json_object(response, spec))
    except ValidationError:
        raise _malformed(response, spec, "the upload answer has no id_image") from None


def _parse_reference(
    response: httpx.Response, spec: RequestSpec[Any], secrets: Sequence[str]
) -> str:
    _check(response, spec, secrets)
    name = _json_object(response, spec).get("reference_name")
    if not name:
        raise _malformed(response, spec, "the reference answer has no reference_name")
    return str(name)


def _parse_start(
    response: httpx.Response, spec: RequestSpec[Any], secrets: Sequence[str]
) -> GenerationJob:
    assert spec.job is not None
    if response.status_code in _START_UNCONFIRMED_STATUSES:
        # A gateway or crash error: the generation may have been queued before it failed.
        raise _unconfirmed(spec.job, f"{spec.endpoint}: HTTP {response.status_code}")
    _check(response, spec, secrets)
    return spec.job  # the body carries nothing clients rely on


def _parse_notifications(
    response: httpx.Response, spec: RequestSpec[Any], secrets: Sequence[str]
) -> list[Notification]:
    _check(response, spec, secrets)
    items = _json_object(response, spec).get("notifications_list") or []
    notifications = []
    for item in items if isinstance(items, list) else []:
        try:
            notifications.append(Notification.model_validate(item))
        except ValidationError:
            # One malformed entry must not hide the others (the poller waits for them).
            logger.warning("Ignoring a malformed notification from %s", spec.endpoint)
    return notifications


def _parse_deleted(
    response: httpx.Response, spec: RequestSpec[Any], secrets: Sequence[str]
) -> None:
    # Already gone (expired after 600 s, or deleted by a retried request) is what we wanted.
    if response.status_code == 404:
        return
    _check(response, spec, secrets)


def _parse_account(
    response: httpx.Response, spec: RequestSpec[Any], secrets: Sequence[str]
) -> Account:
    _check(response, spec, secrets)
    try:
        return Account.model_validate(_json_object(response, spec))
    except ValidationError as exc:
        raise _malformed(
            response, spec, f"unexpected /me answer: {exc.error_count()} invalid field(s)"
        ) from None


def parse_download_status(
    response: httpx.Response, spec: RequestSpec[Any], secrets: Sequence[str] = ()
) -> None:
    """Downloads are streamed; only the status is checked (the body must be read first)."""
    _check(response, spec, secrets)


# --- builders -----------------------------------------------------------------------------


def _check_image_id(image_id: str) -> str:
    if not isinstance(image_id, str) or not image_id.strip():
        raise InvalidInput(f"image_id must be a non-empty string, got {image_id!r}")
    return image_id


def upload_target(
    image: ImagePayload | str, options: UploadOptions | Mapping[str, Any] | None
) -> RequestSpec[UploadResult]:
    """``POST /edit/target``: a multipart ``file``, or a form ``url`` (a public image URL)."""
    wire_options = UploadOptions.coerce(options).to_wire()
    if isinstance(image, str):
        check_link_url(image, what="image URL")
        return RequestSpec(
            "POST",
            "/edit/target",
            _parse_upload,
            timeout="upload",
            data={"url": image, "options": wire_options},
        )
    return RequestSpec(
        "POST",
        "/edit/target",
        _parse_upload,
        timeout="upload",
        data={"options": wire_options},
        files={"file": (image.filename, image.data, image.content_type)},
    )


def upload_reference(image: ImagePayload) -> RequestSpec[str]:
    """``POST /edit/reference``: multipart ``reference`` -> ``reference_name``."""
    return RequestSpec(
        "POST",
        "/edit/reference",
        _parse_reference,
        timeout="upload",
        files={"reference": (image.filename, image.data, image.content_type)},
    )


def generate_person(
    image_id: str,
    person_id: int,
    keyword: Mapping[str, str],
    options: PersonOptions | Mapping[str, Any] | None,
    prompt: str | None,
) -> RequestSpec[GenerationJob]:
    """``POST /edit/generate`` (a paid start: never repeated once it may have arrived)."""
    _check_image_id(image_id)
    if isinstance(person_id, bool) or not isinstance(person_id, int) or person_id < 0:
        raise InvalidPerson(f"person_id must be an int >= 0, got {person_id!r}")
    canonical = validate_person_keyword(keyword)
    person_options: PersonOptions = PersonOptions.coerce(options)
    body: dict[str, Any] = {
        "id_image": image_id,
        "id_person": int(person_id),
        "keyword": json.dumps(canonical),
        "category": "person",
        "options": person_options.to_wire(),
    }
    if prompt:
        body["prompt"] = prompt
    job = _job("person", image_id, person_id, canonical, prompt, person_options.seed)
    return _start_spec("/edit/generate", body, job)


def edit_background(
    image_id: str,
    keyword: Mapping[str, str] | None,
    prompt: str,
    options: BackgroundOptions | Mapping[str, Any] | None,
) -> RequestSpec[GenerationJob]:
    """``POST /edit/background`` (a paid start): a keyword, a prompt, or both."""
    _check_image_id(image_id)
    canonical = validate_background_keyword(keyword) if keyword is not None else None
    if canonical is None and not (prompt or "").strip():
        raise InvalidKeyword("A background edit needs a keyword or a non-empty prompt")
    background_options: BackgroundOptions = BackgroundOptions.coerce(options)
    body: dict[str, Any] = {
        "id_image": image_id,
        "prompt": prompt or "",
        "options": background_options.to_wire(),
    }
    if canonical is not None:
        body["keyword"] = json.dumps(canonical)
    job = _job("background", image_id, None, canonical or {}, prompt, background_options.seed)
    return _start_spec("/edit/background", body, job)


def _job(
    kind: JobKind,
    image_id: str,
    person_id: int | None,
    keyword: dict[str, str],
    prompt: str | None,
    seed: int | None,
) -> GenerationJob:
    return GenerationJob(
        kind=kind,
        image_id=image_id,
        person_id=person_id,
        keyword=keyword,
        prompt=prompt or "",
        seed=seed,
        started_at=time.time(),
        confirmed=True,
    )


def _start_spec(path: str, body: dict[str, Any], job: GenerationJob) -> RequestSpec[GenerationJob]:
    # Not safe to repeat: a second start is a second paid generation.
    return RequestSpec(
        "POST", path, _parse_start, safe_to_repeat=False, json=body, image_id=job.image_id, job=job
    )


def notifications(names: Sequence[str], image_id: str | None) -> RequestSpec[list[Notification]]:
    """``POST /notification_by_name_json`` with ``name_list`` as a comma-separated string."""
    if isinstance(names, str):
        names = [names]
    if not names or any(not isinstance(n, str) or not n.strip() or "," in n for n in names):
        raise InvalidInput(f"names must be non-empty notification names, got {names!r}")
    body: dict[str, Any] = {"name_list": ",".join(name.strip() for name in names)}
    if image_id is not None:
        body["id_image"] = _check_image_id(image_id)
    return RequestSpec(
        "POST", "/notification_by_name_json", _parse_notifications, json=body, image_id=image_id
    )


def delete_notification(notification_id: int) -> RequestSpec[None]:
    """``DELETE /notification/delete_json`` with ``{"id": ...}``."""
    if isinstance(notification_id, bool) or not isinstance(notification_id, int):
        raise InvalidInput(f"notification_id must be an int, got {notification_id!r}")
    return RequestSpec(
        "DELETE", "/notification/delete_json", _parse_deleted, json={"id": notification_id}
    )


def me() -> RequestSpec[Account]:
    """``GET /me``: the account, with its credits."""
    return RequestSpec("GET", "/me", _parse_account)


def download(link: str | ResultLink) -> RequestSpec[None]:
    """A plain GET of a result link (public: sent without the Authorization header)."""
    url = link.url if isinstance(link, ResultLink) else link
    if not isinstance(url, str):
        raise InvalidInput(f"A download link must be a URL string, got {type(url).__name__}")
    check_link_url(url, what="download link")
    return RequestSpec("GET", url, parse_download_status, timeout="download")
