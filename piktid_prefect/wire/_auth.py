"""Bearer authentication with PiktID's one-time refresh tokens, as an ``httpx.Auth``.

:meth:`PiktidAuth.auth_flow` is the one generator shared by sync and async clients (the
httpx pattern): it logs in when there is no access token yet, sends the request with
``Authorization: Bearer``, and on a 401 renews the token and repeats the request (at most
twice: with many requests in flight, a renewed token can be refused again before its
repeat arrives). Renewing means ``PUT /tokens`` with the refresh token; if that fails and
a password is known, a fresh ``POST /tokens`` login (HTTP Basic, empty body). A third 401
is returned to the client, which raises :class:`~piktid_prefect.wire.errors.AuthenticationFailed`.

A refresh token works once: the server treats a reused one as an attack and revokes every
token of the account. So concurrent 401s must renew *once*. The overridden drivers
(:meth:`sync_auth_flow` with a ``threading.Lock``, :meth:`async_auth_flow` with an
``asyncio.Lock``) hold the lock while the flow decides whether to renew and for as long as
it exchanges token requests; a flow that finds the token already replaced since its
request was sent skips renewing and just repeats its request with the new token.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncGenerator, Generator

import httpx
from pydantic import SecretStr, ValidationError

from piktid_prefect.wire._retry import SAFE_TO_REPEAT
from piktid_prefect.wire._status import raise_for_status
from piktid_prefect.wire.errors import AuthenticationFailed, InvalidConfiguration, ServerError
from piktid_prefect.wire.models import TokenPair

__all__ = ["PiktidAuth"]

logger = logging.getLogger("piktid_prefect.wire.client")

# Renewals for one request: enough for a token refused again right after its renewal.
_MAX_RENEWALS = 2

_TOKEN_REQUEST = "piktid_token_request"


def _secret(value: str | SecretStr | None) -> str | None:
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    return text or None


def _is_token_request(request: httpx.Request) -> bool:
    return bool(request.extensions.get(_TOKEN_REQUEST, False))


class PiktidAuth(httpx.Auth):
    """A static access token, or e-mail + password with refresh and re-login.

    Args:
        base_url: The API base URL (``.../api``), for ``/tokens``.
        access_token: A bearer token to start with.
        refresh_token: Its one-time refresh token, if known.
        email: The account e-mail, for logging in.
        password: The account password, for logging in.
        timeout: The timeout of the token requests.

    Raises:
        InvalidConfiguration: Neither an access token nor an e-mail and a password.
    """

    def __init__(
        self,
        base_url: str,
        *,
        access_token: str | SecretStr | None = None,
        refresh_token: str | SecretStr | None = None,
        email: str | None = None,
        password: str | SecretStr | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> None:
        self._tokens_url = f"{base_url}/tokens"
        self._access = _secret(access_token)
        self._refresh = _secret(refresh_token)
        self._email = email or None
        self._password = _secret(password)
        self._timeout = timeout or httpx.Timeout(60.0, connect=10.0)
        if self._access is None and not (self._email and self._password):
            raise InvalidConfiguration(
                "PiktID credentials are missing: give an access token, or an e-mail and a password"
            )
        if bool(self._email) != bool(self._password) and self._access is None:
            raise InvalidConfiguration("An e-mail needs a password (and a password an e-mail)")
        self._thread_lock = threading.Lock()
        self._async_lock = asyncio.Lock()

    @property
    def kind(self) -> str:
        """``password`` (can log in again) or ``token`` (a given access token only)."""
        return "password" if self._email and self._password else "token"

    @property
    def identity(self) -> str:
        """The account e-mail, else the initial access token (for hashing, never shown)."""
        return self._email or self._access or ""

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret currently held, for :func:`~piktid_prefect.wire.errors.redact`."""
        return tuple(s for s in (self._access, self._refresh, self._password) if s)

    def __repr__(self) -> str:
        return f"PiktidAuth(kind={self.kind!r})"

    # --- the shared flow ------------------------------------------------------------------

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Authorize ``request``; on a 401 renew the token and repeat, at most twice.

        Twice, not once: with many requests in flight, the token renewed for this one can
        already have been refused (expired, revoked by another renewal) when it is
        repeated. A 401 is a refusal before any work, so repeating never pays twice.
        """
        if self._access is None:
            yield from self._renew(stale=None)
        sent_with = self._access
        request.headers["Authorization"] = f"Bearer {sent_with}"
        response = yield request
        for _ in range(_MAX_RENEWALS):
            if response.status_code != 401:
                return
            if self._access == sent_with and not (self._refresh or self.kind == "password"):
                return  # nothing to renew with: the client raises on this 401
            yield from self._renew(stale=sent_with)
            sent_with = self._access
            request.headers["Authorization"] = f"Bearer {sent_with}"
            response = yield request

    def _renew(self, stale: str | None) -> Generator[httpx.Request, httpx.Response, None]:
        if self._access is not None and self._access != stale:
            return  # another request renewed it while we waited for the lock
        if self._refresh is not None:
            refreshed = yield from self._refresh_flow()
            if refreshed:
                return
        if self._email and self._password:
            yield from self._login_flow()
            return
        raise AuthenticationFailed(
            "The access token was refused and cannot be renewed (no refresh token or password)",
            status_code=401,
            endpoint="PUT /tokens",
        )

    def _refresh_flow(self) -> Generator[httpx.Request, httpx.Response, bool]:
        logger.info("PiktID access token refused; refreshing it")
        body = {"access_token": self._access or "", "refresh_token": self._refresh or ""}
        # Whatever happens next, this refresh token is spent: sending it again would make
        # the server revoke every token of the account.
        self._refresh = None
        # Unsafe to repeat for the same reason: its answer lost, a retry would reuse it.
        request = self._token_request("PUT", json=body, safe_to_repeat=False)
        response = yield request
        pair = self._parse_pair(response)
        if pair is None:
            logger.info("PiktID token refresh refused (HTTP %d)", response.status_code)
            return False
        self._store(pair)
        return True

    def _login_flow(self) -> Generator[httpx.Request, httpx.Response, None]:
        logger.info("Logging in to PiktID with the account password")
        basic = httpx.BasicAuth(self._email or "", self._password or "")
        request = self._token_request("POST", content=b"", safe_to_repeat=True)
        request = next(basic.auth_flow(request))
        response = yield request
        # A 401/403 becomes AuthenticationFailed; a 429/5xx keeps its own, transient, class.
        raise_for_status(response, endpoint="POST /tokens", secrets=self.secrets)
        pair = self._parse_pair(response)
        if pair is None:
            raise ServerError(
                "the login answer has no access_token",
                status_code=response.status_code,
                endpoint="POST /tokens",
            )
        self._store(pair)

    # --- helpers --------------------------------------------------------------------------

    def _token_request(
        self,
        method: str,
        *,
        json: dict[str, str] | None = None,
        content: bytes | None = None,
        safe_to_repeat: bool,
    ) -> httpx.Request:
        return httpx.Request(
            method,
            self._tokens_url,
            json=json,
            content=content,
            extensions={
                "timeout": self._timeout.as_dict(),
                SAFE_TO_REPEAT: safe_to_repeat,
                _TOKEN_REQUEST: True,
            },
        )

    @staticmethod
    def _parse_pair(response: httpx.Response) -> TokenPair | None:
        if not response.is_success:
            return None
        try:
            return TokenPair.model_validate(response.json())
        except (ValueError, ValidationError):
            return None

    def _store(self, pair: TokenPair) -> None:
        self._access = pair.access_token.get_secret_value()
        self._refresh = pair.refresh_token.get_secret_value() if pair.refresh_token else None

    # --- drivers: the flow above, with a lock held while it renews ------------------------

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        request.read()  # the request may be sent twice
        flow = self.auth_flow(request)
        lock = self._thread_lock
        lock.acquire()  # the flow may log in before its first request
        held = True
        try:
            outgoing = next(flow)
            while True:
                if held and not _is_token_request(outgoing):
                    lock.release()
                    held = False
                response = yield outgoing
                response.read()
                if response.status_code == 401 and not held:
                    lock.acquire()
                    held = True
                outgoing = flow.send(response)
        except StopIteration:
            return
        finally:
            flow.close()
            if held:
                lock.release()

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()  # the request may be sent twice
        flow = self.auth_flow(request)
        lock = self._async_lock
        await lock.acquire()  # the flow may log in before its first request
        held = True
        try:
            outgoing = next(flow)
            while True:
                if held and not _is_token_request(outgoing):
                    lock.release()
                    held = False
                response = yield outgoing
                await response.aread()
                if response.status_code == 401 and not held:
                    await lock.acquire()
                    held = True
                outgoing = flow.send(response)
        except StopIteration:
            return
        finally:
            flow.close()
            if held:
                lock.release()
