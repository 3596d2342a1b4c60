"""Typed sync and async clients of the PiktID v1 API.

:class:`PiktidClient` and :class:`AsyncPiktidClient` share everything but the lines that do
I/O: request building and answer parsing live in :mod:`piktid_prefect.wire._endpoints`, input
validation in :mod:`piktid_prefect.wire.images`, authentication in :mod:`piktid_prefect.wire._auth`,
retries in :mod:`piktid_prefect.wire._retry` (a transport wrapped around httpx's own).

Starting a generation costs credits, so the start calls (:meth:`~PiktidClient.
generate_person`, :meth:`~PiktidClient.edit_background`, and those of the chained products
in :mod:`piktid_prefect.wire._chain_client`: ``start_upscale``, ``start_identity_swap``)
are never repeated blindly:

- If nothing reached the server (connection refused, connect timeout) or the server said
  it did not process the request (429, 503), the start is retried like any safe call.
- If the request may have reached the server but its answer was lost (read timeout,
  connection reset or dropped after sending, 500/502/504), the client raises
  :class:`~piktid_prefect.wire.errors.GenerationStartUnconfirmed` whose ``job`` is the
  :class:`~piktid_prefect.wire.models.GenerationJob` as sent, with ``confirmed=False``.
- The layer above keeps that job and waits for its notification like any other job. The
  notification arrives ⇒ the generation had started and was paid once; the wait times out
  ⇒ it never started, and only then may it be started again (a re-run does so).

Example:
    >>> from piktid_prefect.wire.client import PiktidClient
    >>> with PiktidClient(email="me@example.com", password="...") as client:  # doctest: +SKIP
    ...     upload = client.upload_target("portrait.jpg")
    ...     job = client.generate_person(upload.image_id, 0, {"Location": "Oceania"})
    ...     other = client.generate_person(upload.image_id, 0, prompt="a woman in a red dress")
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, TypeVar, overload

import httpx
from pydantic import SecretStr

from piktid_prefect import __version__
from piktid_prefect.wire import _endpoints, _log_redaction, _retry
from piktid_prefect.wire._auth import PiktidAuth
from piktid_prefect.wire._chain_client import (
    IDENTITY_NOTIFICATION_NAMES,
    UPSCALE_NOTIFICATION_NAMES,
    AsyncChainCalls,
    ChainChecks,
    SyncChainCalls,
)
from piktid_prefect.wire._retry import AsyncRetryTransport, Attempts, RetryPolicy, RetryTransport
from piktid_prefect.wire._spec import RequestSpec, Timeouts, to_request
from piktid_prefect.wire._status import transport_error
from piktid_prefect.wire.errors import InvalidInput, InvalidPerson
from piktid_prefect.wire.images import ImageSource, check_base_url, is_image_url, load_image
from piktid_prefect.wire.models import (
    Account,
    BackgroundOptions,
    GenerationJob,
    Notification,
    PersonOptions,
    ResultLink,
    UploadOptions,
    UploadResult,
)
from piktid_prefect.wire.persons import person_problem

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_NOTIFICATION_NAMES",
    "IDENTITY_NOTIFICATION_NAMES",
    "UPSCALE_NOTIFICATION_NAMES",
    "AsyncPiktidClient",
    "ImageSource",
    "PiktidClient",
    "RetryPolicy",
    "Timeouts",
]

DEFAULT_BASE_URL = "https://api.piktid.com/api"
DEFAULT_NOTIFICATION_NAMES = ("edit_generate", "edit_background", "error")

T = TypeVar("T")
Destination = str | os.PathLike[str] | BinaryIO | None

# httpcore's DEBUG trace would print the refresh-token cookie of PUT/POST /tokens answers.
_log_redaction.install()


# Idle connections are dropped before servers usually drop theirs (uvicorn and many
# proxies: 5 s), so a request is never sent on a connection the server is closing; that
# race shows up as a lost answer, which for a start call means a long settle-by-waiting.
_POOL_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=2.0)


class _ClientCore(ChainChecks):
    """Configuration, validation and the request specs: everything without I/O."""

    def __init__(
        self,
        base_url: str,
        *,
        access_token: str | SecretStr | None,
        refresh_token: str | SecretStr | None,
        email: str | None,
        password: str | SecretStr | None,
        timeouts: Timeouts | None,
        retry: RetryPolicy | None,
    ) -> None:
        super().__init__()
        self._base_url = check_base_url(base_url)
        self._timeouts = timeouts or Timeouts()
        self._retry = retry or RetryPolicy()
        self._auth = PiktidAuth(
            self._base_url,
            access_token=access_token,
            refresh_token=refresh_token,
            email=email,
            password=password,
            timeout=self._timeouts.for_kind("read"),
        )
        # What this client uploaded, to refuse a bad person id before paying for it.
        self._uploads: dict[str, UploadResult] = {}

    def _http_options(self) -> dict[str, Any]:
        return {
            "base_url": self._base_url + "/",
            "auth": self._auth,
            "timeout": self._timeouts.for_kind("read"),
            "headers": {"User-Agent": f"piktid-prefect/{__version__}"},
            "follow_redirects": False,
            # Keep no cookies: PiktID sets the refresh token as one, and it must not ride
            # along on every request (the client sends it in the PUT /tokens body instead).
            "cookies": CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        }

    @property
    def base_url(self) -> str:
        """The API base URL, without a trailing slash."""
        return self._base_url

    @property
    def account_key(self) -> str:
        """A stable identifier of (base URL, account) that reveals no secret."""
        digest = hashlib.sha256(f"{self._base_url}\n{self._auth.identity}".encode())
        return digest.hexdigest()[:16]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._base_url!r}, auth={self._auth.kind!r})"

    def register_upload(self, upload: UploadResult) -> None:
        """Remember an upload (e.g. one cached by an earlier run) to check person ids."""
        self._uploads[upload.image_id] = upload

    def _upload_target_spec(
        self,
        image: ImageSource,
        options: UploadOptions | Mapping[str, Any] | None,
        filename: str | None,
    ) -> RequestSpec[UploadResult]:
        if is_image_url(image):
            assert isinstance(image, str)
            return _endpoints.upload_target(image, options)
        return _endpoints.upload_target(load_image(image, filename=filename), options)

    def _person_spec(
        self,
        image_id: str,
        person_id: int,
        keyword: Mapping[str, str] | None,
        options: PersonOptions | Mapping[str, Any] | None,
        prompt: str | None,
    ) -> RequestSpec[GenerationJob]:
        spec = _endpoints.generate_person(image_id, person_id, keyword, options, prompt)
        upload = self._uploads.get(image_id)
        if upload is not None:
            _check_person(upload, person_id)
        return spec


def _check_person(upload: UploadResult, person_id: int) -> None:
    problem = person_problem(upload.persons, person_id)
    if problem == "no person":
        raise InvalidPerson(f"No person was detected in image {upload.image_id}")
    if problem == "unknown":
        raise InvalidPerson(
            f"Image {upload.image_id} has no person {person_id}; its persons: "
            f"{', '.join(str(person.id) for person in upload.persons)}"
        )
    if problem == "not approved":
        approved = ", ".join(map(str, upload.approved_person_ids)) or "none"
        raise InvalidPerson(
            f"Person {person_id} of image {upload.image_id} is not approved (too blurry); "
            f"approved persons: {approved}"
        )


def _again(
    attempts: Attempts, policy: RetryPolicy, request: httpx.Request, destination: Destination
) -> float | None:
    """A download that broke is sent again within the call's attempts, unless part of it
    already went to the caller's own file object (it cannot be taken back)."""
    if destination is not None and not isinstance(destination, (str, os.PathLike)):
        return None
    return attempts.again_after_body_error(policy, request)


class _Sink:
    """Where a download goes: memory, the caller's file object, or a path.

    A path is written through a temporary file in the same folder, renamed over the
    destination only once the whole body arrived: a failed download leaves neither a
    partial file nor a damaged earlier one.
    """

    def __init__(self, destination: Destination) -> None:
        self._buffer = bytearray()
        self._path: Path | None = None
        self._file: BinaryIO | None = None
        self._temp: Path | None = None
        if destination is None:
            return
        if isinstance(destination, (str, os.PathLike)):
            self._path = Path(destination)
            if self._path.is_dir():
                raise InvalidInput(f"The download destination {str(self._path)!r} is a folder")
        elif hasattr(destination, "write"):
            self._file = destination
        else:
            raise InvalidInput(f"Cannot download into a {type(destination).__name__}")

    def __enter__(self) -> _Sink:
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(
                dir=self._path.parent, prefix=f".{self._path.name}.", suffix=".part"
            )
            self._temp = Path(name)
            self._file = os.fdopen(fd, "wb")
        return self

    def write(self, chunk: bytes) -> None:
        if self._file is None:
            self._buffer += chunk
        else:
            self._file.write(chunk)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._temp is None or self._file is None or self._path is None:
            return
        self._file.close()
        if exc_type is None:
            os.replace(self._temp, self._path)
        else:
            self._temp.unlink(missing_ok=True)

    @property
    def result(self) -> bytes | Path | None:
        if self._path is not None:
            return self._path
        return None if self._file is not None else bytes(self._buffer)


class PiktidClient(_ClientCore, SyncChainCalls):
    """Synchronous PiktID client.

    Args:
        base_url: API base URL; plain ``http`` only for loopback hosts (the emulator).
        access_token: A bearer token (alone, or with ``email``/``password`` to renew it).
        refresh_token: The one-time refresh token that came with ``access_token``.
        email: Account e-mail, to log in (with ``password``).
        password: Account password.
        timeouts: Explicit timeouts; defaults to :class:`Timeouts`.
        retry: Backoff for transient faults; defaults to :class:`RetryPolicy`.
        transport: The httpx transport (the test seam, e.g. ``httpx.MockTransport``).

    Raises:
        InvalidConfiguration: Bad base URL or missing credentials.

    Example:
        >>> with PiktidClient(access_token="...") as client:  # doctest: +SKIP
        ...     print(client.me().credits)
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        access_token: str | SecretStr | None = None,
        refresh_token: str | SecretStr | None = None,
        email: str | None = None,
        password: str | SecretStr | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url,
            access_token=access_token,
            refresh_token=refresh_token,
            email=email,
            password=password,
            timeouts=timeouts,
            retry=retry,
        )
        wrapped = RetryTransport(transport or httpx.HTTPTransport(limits=_POOL_LIMITS), self._retry)
        self._http = httpx.Client(transport=wrapped, **self._http_options())

    def _call(self, spec: RequestSpec[T]) -> T:
        request = to_request(self._http, spec, self._timeouts)
        try:
            response = self._http.send(request)
        except httpx.TransportError as exc:
            raise transport_error(spec, exc) from exc
        return spec.parse(response, spec, self._auth.secrets)

    def upload_target(
        self,
        image: ImageSource,
        *,
        options: UploadOptions | Mapping[str, Any] | None = None,
        filename: str | None = None,
    ) -> UploadResult:
        """Upload the image to edit (``POST /edit/target``); detects the persons in it.

        Args:
            image: A path, bytes, a binary file object, or a public ``http(s)://`` URL.
            options: :class:`~piktid_prefect.wire.models.UploadOptions` flags.
            filename: Name to upload under (files only).

        Returns:
            The image id (valid 24 h) and the detected persons.
        """
        upload = self._call(self._upload_target_spec(image, options, filename))
        self.register_upload(upload)
        return upload

    def upload_reference(self, image: ImageSource) -> str:
        """Upload a style reference (``POST /edit/reference``); returns its ``reference_name``."""
        return self._call(_endpoints.upload_reference(load_image(image)))

    def generate_person(
        self,
        image_id: str,
        person_id: int,
        keyword: Mapping[str, str] | None = None,
        *,
        options: PersonOptions | Mapping[str, Any] | None = None,
        prompt: str | None = None,
    ) -> GenerationJob:
        """Start replacing a person (``POST /edit/generate``); paid, never sent twice.

        Args:
            image_id: The uploaded image.
            person_id: The person to replace (an approved one).
            keyword: A ``{"Location": ...}`` keyword; may be omitted when ``prompt`` is given.
            options: :class:`~piktid_prefect.wire.models.PersonOptions` (options this
                version does not know are sent as given).
            prompt: Free text describing the new person, e.g. "a woman in a red dress".

        Raises:
            InvalidKeyword: Not a ``{"Location": ...}`` keyword of the vocabulary, or
                neither a keyword nor a non-empty prompt.
            InvalidOptions: A known option out of range, or a misspelt one (``Seed``).
            InvalidPerson: This client uploaded the image and the person is unknown or
                not approved.
            GenerationStartUnconfirmed: Sent, answer lost (see the module docstring).
        """
        return self._call(self._person_spec(image_id, person_id, keyword, options, prompt))

    def edit_background(
        self,
        image_id: str,
        keyword: Mapping[str, str] | None = None,
        *,
        prompt: str = "",
        options: BackgroundOptions | Mapping[str, Any] | None = None,
    ) -> GenerationJob:
        """Start a background edit (``POST /edit/background``); paid, never sent twice.

        Raises:
            InvalidKeyword: Unknown keyword, or neither a keyword nor a prompt.
            GenerationStartUnconfirmed: Sent, answer lost (see the module docstring).
        """
        return self._call(_endpoints.edit_background(image_id, keyword, prompt, options))

    def notifications(
        self, names: Sequence[str] = DEFAULT_NOTIFICATION_NAMES, *, image_id: str | None = None
    ) -> list[Notification]:
        """The account's pending notifications of these names (optionally of one image)."""
        return self._call(_endpoints.notifications(names, image_id))

    def delete_notification(self, notification_id: int) -> None:
        """Delete a notification once handled (an already expired one is fine)."""
        self._call(_endpoints.delete_notification(notification_id))

    def me(self) -> Account:
        """The account (``GET /me``), with its remaining credits."""
        return self._call(_endpoints.me())

    @overload
    def download(self, link: str | ResultLink, destination: None = None) -> bytes: ...
    @overload
    def download(self, link: str | ResultLink, destination: str | os.PathLike[str]) -> Path: ...
    @overload
    def download(self, link: str | ResultLink, destination: BinaryIO) -> None: ...

    def download(self, link: str | ResultLink, destination: Destination = None) -> Any:
        """Download a result link (public: no credentials are sent).

        Args:
            link: A result URL or :class:`~piktid_prefect.wire.models.ResultLink`.
            destination: None to get the bytes, a path (written atomically; returned), or a
                binary file object (written to; None returned).
        """
        spec = _endpoints.download(link)
        attempts = Attempts()
        while True:
            sink = _Sink(destination)
            request = to_request(self._http, spec, self._timeouts, attempts)
            try:
                response = self._http.send(request, stream=True, auth=None)
                try:
                    if response.is_error:
                        response.read()
                    spec.parse(response, spec, self._auth.secrets)
                    with sink:
                        for chunk in response.iter_bytes():
                            sink.write(chunk)
                finally:
                    response.close()
                return sink.result
            except httpx.TransportError as exc:
                delay = _again(attempts, self._retry, request, destination)
                if delay is None:
                    raise transport_error(spec, exc) from exc
            _retry._sleep(delay)

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> PiktidClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncPiktidClient(_ClientCore, AsyncChainCalls):
    """Asynchronous PiktID client: :class:`PiktidClient` with every call ``async``.

    Arguments, results and errors are those of :class:`PiktidClient`; ``transport`` is an
    ``httpx.AsyncBaseTransport``.

    Example:
        >>> async with AsyncPiktidClient(access_token="...") as client:  # doctest: +SKIP
        ...     print((await client.me()).credits)
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        access_token: str | SecretStr | None = None,
        refresh_token: str | SecretStr | None = None,
        email: str | None = None,
        password: str | SecretStr | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url,
            access_token=access_token,
            refresh_token=refresh_token,
            email=email,
            password=password,
            timeouts=timeouts,
            retry=retry,
        )
        wrapped = AsyncRetryTransport(
            transport or httpx.AsyncHTTPTransport(limits=_POOL_LIMITS), self._retry
        )
        self._http = httpx.AsyncClient(transport=wrapped, **self._http_options())

    async def _call(self, spec: RequestSpec[T]) -> T:
        request = to_request(self._http, spec, self._timeouts)
        try:
            response = await self._http.send(request)
        except httpx.TransportError as exc:
            raise transport_error(spec, exc) from exc
        return spec.parse(response, spec, self._auth.secrets)

    async def upload_target(
        self,
        image: ImageSource,
        *,
        options: UploadOptions | Mapping[str, Any] | None = None,
        filename: str | None = None,
    ) -> UploadResult:
        """See :meth:`PiktidClient.upload_target`."""
        upload = await self._call(self._upload_target_spec(image, options, filename))
        self.register_upload(upload)
        return upload

    async def upload_reference(self, image: ImageSource) -> str:
        """See :meth:`PiktidClient.upload_reference`."""
        return await self._call(_endpoints.upload_reference(load_image(image)))

    async def generate_person(
        self,
        image_id: str,
        person_id: int,
        keyword: Mapping[str, str] | None = None,
        *,
        options: PersonOptions | Mapping[str, Any] | None = None,
        prompt: str | None = None,
    ) -> GenerationJob:
        """See :meth:`PiktidClient.generate_person`."""
        return await self._call(self._person_spec(image_id, person_id, keyword, options, prompt))

    async def edit_background(
        self,
        image_id: str,
        keyword: Mapping[str, str] | None = None,
        *,
        prompt: str = "",
        options: BackgroundOptions | Mapping[str, Any] | None = None,
    ) -> GenerationJob:
        """See :meth:`PiktidClient.edit_background`."""
        return await self._call(_endpoints.edit_background(image_id, keyword, prompt, options))

    async def notifications(
        self, names: Sequence[str] = DEFAULT_NOTIFICATION_NAMES, *, image_id: str | None = None
    ) -> list[Notification]:
        """See :meth:`PiktidClient.notifications`."""
        return await self._call(_endpoints.notifications(names, image_id))

    async def delete_notification(self, notification_id: int) -> None:
        """See :meth:`PiktidClient.delete_notification`."""
        await self._call(_endpoints.delete_notification(notification_id))

    async def me(self) -> Account:
        """See :meth:`PiktidClient.me`."""
        return await self._call(_endpoints.me())

    @overload
    async def download(self, link: str | ResultLink, destination: None = None) -> bytes: ...
    @overload
    async def download(
        self, link: str | ResultLink, destination: str | os.PathLike[str]
    ) -> Path: ...
    @overload
    async def download(self, link: str | ResultLink, destination: BinaryIO) -> None: ...

    async def download(self, link: str | ResultLink, destination: Destination = None) -> Any:
        """See :meth:`PiktidClient.download`."""
        spec = _endpoints.download(link)
        attempts = Attempts()
        while True:
            sink = _Sink(destination)
            request = to_request(self._http, spec, self._timeouts, attempts)
            try:
                response = await self._http.send(request, stream=True, auth=None)
                try:
                    if response.is_error:
                        await response.aread()
                    spec.parse(response, spec, self._auth.secrets)
                    with sink:
                        async for chunk in response.aiter_bytes():
                            sink.write(chunk)
                finally:
                    await response.aclose()
                return sink.result
            except httpx.TransportError as exc:
                delay = _again(attempts, self._retry, request, destination)
                if delay is None:
                    raise transport_error(spec, exc) from exc
            await _retry._asleep(delay)

    async def close(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncPiktidClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
