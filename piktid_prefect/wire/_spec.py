"""A request described without I/O: what to send, its timeout, and whether repeating it is safe.

The sync and async clients turn a :class:`RequestSpec` into an ``httpx.Request`` with
:func:`to_request`, send it, and hand the answer to ``spec.parse``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field

from piktid_prefect.wire._retry import ATTEMPTS, SAFE_TO_REPEAT, STREAMED, Attempts
from piktid_prefect.wire.models_chain import StartedJob

__all__ = ["Parser", "RequestSpec", "TimeoutKind", "Timeouts", "to_request"]

T = TypeVar("T")
TimeoutKind = Literal["read", "upload", "download"]
Parser = Callable[[httpx.Response, "RequestSpec[Any]", Sequence[str]], T]


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
    job: StartedJob | None = None

    @property
    def endpoint(self) -> str:
        """``METHOD /path``, without host or query (safe to show in errors)."""
        return f"{self.method} {httpx.URL(self.path).path}"


def to_request(
    http: httpx.Client | httpx.AsyncClient,
    spec: RequestSpec[Any],
    timeouts: Timeouts,
    attempts: Attempts | None = None,
) -> httpx.Request:
    """Build the ``httpx.Request`` of ``spec`` on ``http`` (its base URL and auth apply).

    ``attempts``: shared by the requests of one call the client may send again.
    """
    extensions: dict[str, Any] = {SAFE_TO_REPEAT: spec.safe_to_repeat}
    if attempts is not None:
        extensions[ATTEMPTS] = attempts
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
