"""Every failure piktid-prefect raises, rooted at :class:`PiktidError`.

```
PiktidError
├── InvalidInput (also ValueError)          bad input, caught before any request or credit
│   ├── UnsupportedImage                     format, empty, truncated, too large, bomb
│   ├── InvalidKeyword                       unknown category or value (lists the valid ones)
│   ├── InvalidOptions                       option out of range
│   ├── InvalidPerson                        person id unknown, not approved, or none found
│   ├── NothingToGenerate                    no keyword and no prompt: no output asked for
│   └── InvalidConfiguration                 bad base URL, http to a remote host, no credentials
├── PiktidAPIError                           the server answered with an error status
│   ├── AuthenticationFailed                 401/403 that a refresh and re-login did not cure
│   ├── RateLimited                          429, carries ``retry_after_seconds``
│   ├── ServerError                          5xx
│   └── BadRequest                           other 4xx, carries the server's message
│       ├── ImageNotFound                    image id expired (24 h) or unknown
│       └── InsufficientCredits              402: the account cannot pay for the start
├── TransportError                           no usable answer: connection refused/reset, timeout
│   └── GenerationStartUnconfirmed           a start request was sent, its answer was lost
├── GenerationFailed                         an ``error`` notification: ``tasks``, ``msg``
├── RunStopped                               the run was cancelled: no new start, waits end
├── NotificationTimeout                      no notification for a job before the deadline
└── NotEnoughCredits                         not started: the balance or the run's max_credits
                                             is short (before the run, or after a 402)
```

Messages never contain a token: they are built from status codes, server messages and
ids only, and :func:`redact` scrubs anything that looks like a bearer credential from
text that comes from elsewhere.
"""

from __future__ import annotations

import re

__all__ = [
    "AuthenticationFailed",
    "BadRequest",
    "GenerationFailed",
    "GenerationStartUnconfirmed",
    "ImageNotFound",
    "InsufficientCredits",
    "InvalidConfiguration",
    "InvalidInput",
    "InvalidKeyword",
    "InvalidOptions",
    "InvalidPerson",
    "NotEnoughCredits",
    "NothingToGenerate",
    "NotificationTimeout",
    "PiktidAPIError",
    "PiktidError",
    "RateLimited",
    "RunStopped",
    "ServerError",
    "TransportError",
    "UnsupportedImage",
    "is_transient",
    "redact",
]

_SECRET_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]+"),
    re.compile(r"(?i)((?:access|refresh)_token[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)(password[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"),
)


def redact(text: str, *secrets: str | None) -> str:
    """Return ``text`` with bearer/basic credentials, token fields and ``secrets`` masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text


class PiktidError(Exception):
    """Base class of every error raised by piktid-prefect."""


# --- bad input, detected before any request -------------------------------------------


class InvalidInput(PiktidError, ValueError):
    """The input cannot succeed; nothing was sent and no credit was spent."""


class UnsupportedImage(InvalidInput):
    """The image is not a PNG, JPEG or WEBP we can upload (or is empty, truncated, too big)."""


class InvalidKeyword(InvalidInput):
    """A keyword's category or value is not in the PiktID vocabulary."""


class InvalidOptions(InvalidInput):
    """A generation option is out of its documented range."""


class InvalidPerson(InvalidInput):
    """The person id is unknown for the image, or the person is not approved (too blurry)."""


class NothingToGenerate(InvalidInput):
    """A run was asked for no output at all (no keyword and no prompt)."""


class InvalidConfiguration(InvalidInput):
    """The client configuration cannot work (base URL, credentials, output folder)."""


# --- the server said no -----------------------------------------------------------------


class PiktidAPIError(PiktidError):
    """The API answered with an error status.

    Attributes:
        status_code: The HTTP status.
        message: The server's own message (already free of credentials).
        endpoint: ``METHOD /path`` of the request, without host or query.
    """

    def __init__(self, message: str, *, status_code: int, endpoint: str = "") -> None:
        self.status_code = status_code
        self.message = message
        self.endpoint = endpoint
        where = f"{endpoint}: " if endpoint else ""
        super().__init__(f"{where}HTTP {status_code}: {message}")


class AuthenticationFailed(PiktidAPIError):
    """The credentials were refused, even after a token refresh and a fresh login."""


class RateLimited(PiktidAPIError):
    """HTTP 429. ``retry_after_seconds`` is the server's Retry-After, if it sent one."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 429,
        endpoint: str = "",
        retry_after_seconds: float | None = None,
    ) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(message, status_code=status_code, endpoint=endpoint)


class ServerError(PiktidAPIError):
    """HTTP 5xx from the API."""


class BadRequest(PiktidAPIError):
    """HTTP 4xx (other than 401/403/429): the request itself was refused."""


class ImageNotFound(BadRequest):
    """The image id is unknown or expired (targets are deleted 24 h after upload)."""


class InsufficientCredits(BadRequest):
    """HTTP 402: the account cannot pay for this start (nothing was charged).

    Never transient: repeating the start cannot succeed until someone buys credits.
    """


# --- no usable answer -------------------------------------------------------------------


class TransportError(PiktidError):
    """The request failed below HTTP: refused, reset, or timed out."""


class GenerationStartUnconfirmed(TransportError):
    """A start-generation request was sent but its answer was lost.

    The generation may or may not have started (and been charged). It is never re-sent
    blindly: the caller waits for the job's notification, which settles it. See
    :mod:`piktid_prefect.wire.client` for the protocol.

    Attributes:
        job: The job as it was sent (``confirmed=False``): a ``GenerationJob``, or an
            ``UpscaleJob`` / ``IdentitySwapJob`` for the chained products' starts.
    """

    def __init__(self, message: str, *, job: object = None) -> None:
        self.job = job
        super().__init__(message)


# --- a job's outcome ----------------------------------------------------------------------


class GenerationFailed(PiktidError):
    """The API reported an ``error`` notification for this job."""

    def __init__(self, message: str, *, tasks: str = "", msg: str = "", job: str = "") -> None:
        self.tasks = tasks
        self.msg = msg
        self.job = job
        super().__init__(message)


class RunStopped(PiktidError):
    """The run was cancelled or terminated: no new start, and waiting jobs stop waiting.

    Their starts stay in the journal, so a re-run within 600 s collects them unpaid.
    """


class NotificationTimeout(PiktidError):
    """No notification arrived for a job before the deadline."""

    def __init__(self, message: str, *, job: str = "", timeout_seconds: float = 0.0) -> None:
        self.job = job
        self.timeout_seconds = timeout_seconds
        super().__init__(message)


class NotEnoughCredits(PiktidError):
    """A paid start was not sent: the run would spend more than the account or the run's
    ``max_credits`` allows.

    Raised before the first start (the preflight count) or, mid-run, for every output not
    started after the run's budget was used up or the server answered 402.

    Attributes:
        reason: ``"balance"`` (the account is short) or ``"max_credits"`` (the run's cap).
    """

    def __init__(self, message: str, *, reason: str = "balance") -> None:
        self.reason = reason
        super().__init__(message)


_TRANSIENT = (RateLimited, ServerError, TransportError)


def is_transient(exc: BaseException) -> bool:
    """Whether repeating the same safe call later may succeed.

    An unconfirmed generation start is *not* transient: repeating it may pay twice.
    """
    if isinstance(exc, GenerationStartUnconfirmed):
        return False
    return isinstance(exc, _TRANSIENT)
