"""Accounts, credits and tokens: Basic login, one-time refresh tokens, bearer checks.

Token lifetimes run on the virtual clock, so tests can make a token expire by advancing
it (or with a short ``access_token_ttl_seconds`` and a fast ``time_scale``). The
``access_expiration``/``refresh_expiration`` handed out are real wall-clock instants: when
the token will be refused if nobody advances the clock, i.e. issue time + lifetime x
``time_scale``. (Were the tokens JWTs, that is the ``exp`` they would carry.) An
:meth:`~piktid_prefect.emulator.clock.VirtualClock.advance` makes tokens expire sooner than
announced, as a server-side revocation would: clients must treat a 401 as the truth
whatever the expiration said, as PiktID's own clients do (refresh once, retry once).
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from piktid_prefect.emulator.clock import VirtualClock
from piktid_prefect.emulator.config import EmulatorConfig
from piktid_prefect.emulator.problems import ApiError

__all__ = ["AccountBook", "AccountRecord", "wire_credits"]

_CREDIT_DECIMALS = 6


@dataclass
class AccountRecord:
    """One emulated user."""

    email: str
    password: str
    credits: float
    username: str


@dataclass
class _TokenPair:
    email: str
    access: str
    refresh: str
    access_expires: float
    refresh_expires: float
    revoked: bool = False
    refresh_used: bool = False


class AccountBook:
    """Thread-safe store of accounts and their tokens.

    Args:
        clock: The virtual clock token lifetimes run on.
        config: The emulator configuration (token lifetimes are read at issue time).
    """

    def __init__(self, clock: VirtualClock, config: EmulatorConfig) -> None:
        self._clock = clock
        self._config = config
        self._lock = threading.Lock()
        self._accounts: dict[str, AccountRecord] = {}
        self._by_access: dict[str, _TokenPair] = {}
        self._by_refresh: dict[str, _TokenPair] = {}

    def create(self, email: str, password: str, credits: float) -> AccountRecord:
        """Create (or reset the password and credits of) an account."""
        with self._lock:
            record = AccountRecord(email, password, credits, email.split("@")[0])
            self._accounts[email] = record
            return record

    def login(self, email: str, password: str) -> dict[str, Any]:
        """Issue a token pair for valid credentials (401 otherwise)."""
        with self._lock:
            account = self._accounts.get(email)
            if account is None or not secrets.compare_digest(account.password, password):
                raise ApiError(401, "Invalid email or password")
            return self._issue(email)

    def refresh(self, access: str | None, refresh: str | None) -> dict[str, Any]:
        """Trade a refresh token (once) for a new pair.

        A refresh token is good for one use: presenting it again is treated as theft and
        revokes every token of the account, as the PiktID docs describe.
        """
        if not refresh:
            raise ApiError(401, "A refresh token is required")
        with self._lock:
            pair = self._by_refresh.get(refresh)
            if pair is None:
                raise ApiError(401, "Invalid refresh token")
            if pair.refresh_used:
                self._revoke_all(pair.email)
                raise ApiError(401, "Refresh token reused: every token of the account is revoked")
            now = self._clock.now()
            if pair.revoked or pair.refresh_expires <= now:
                raise ApiError(401, "Refresh token expired or revoked")
            if access is not None and access != pair.access:
                raise ApiError(401, "The access token does not match the refresh token")
            pair.refresh_used = True
            pair.access_expires = min(pair.access_expires, now)
            return self._issue(pair.email)

    def revoke(self, access: str) -> None:
        """Log out: the access token stops working."""
        with self._lock:
            pair = self._by_access.get(access)
            if pair is not None:
                pair.revoked = True

    def expire_access(self, access: str) -> bool:
        """Force ``access`` to be expired from now on; False if unknown."""
        with self._lock:
            pair = self._by_access.get(access)
            if pair is None:
                return False
            pair.access_expires = min(pair.access_expires, self._clock.now())
            return True

    def authenticate(self, authorization: str | None) -> str:
        """The e-mail behind an ``Authorization: Bearer`` header, or 401."""
        token = _bearer(authorization)
        if token is None:
            raise ApiError(401, "Missing bearer token")
        with self._lock:
            pair = self._by_access.get(token)
            if pair is None:
                raise ApiError(401, "Invalid access token")
            if pair.revoked or pair.access_expires <= self._clock.now():
                raise ApiError(401, "Access token expired or revoked")
            return pair.email

    def owner_of(self, authorization: str | None) -> str | None:
        """The e-mail a bearer header names, valid or not (for statistics)."""
        token = _bearer(authorization)
        with self._lock:
            pair = self._by_access.get(token) if token else None
            return pair.email if pair else None

    def charge(self, email: str, amount: float = 1) -> None:
        """Take ``amount`` credits (SuperID charges fractions), or answer 402 and take nothing."""
        with self._lock:
            account = self._accounts[email]
            if account.credits < amount:
                raise ApiError(
                    402,
                    f"Not enough credits: {wire_credits(amount)} needed, "
                    f"{wire_credits(account.credits)} available",
                )
            # Rounded so that repeated 0.1-style charges do not drift (0.30000000000000004).
            account.credits = round(account.credits - amount, _CREDIT_DECIMALS)

    def me(self, email: str) -> dict[str, Any]:
        """The ``GET /me`` answer."""
        with self._lock:
            account = self._accounts[email]
            return {
                "email": account.email,
                "username": account.username,
                "name": account.username.capitalize(),
                "surname": "Emulated",
                "affiliation": "PiktID emulator",
                "credits": wire_credits(account.credits),
                "verified": True,
                "contract": "free",
                "app_name": "emulator",
            }

    def _issue(self, email: str) -> dict[str, Any]:
        now = self._clock.now()
        pair = _TokenPair(
            email=email,
            access=secrets.token_urlsafe(32),
            refresh=secrets.token_urlsafe(32),
            access_expires=now + self._config.access_token_ttl_seconds,
            refresh_expires=now + self._config.refresh_token_ttl_seconds,
        )
        self._by_access[pair.access] = pair
        self._by_refresh[pair.refresh] = pair
        return {
            "access_token": pair.access,
            "refresh_token": pair.refresh,
            "access_expiration": self._iso(pair.access_expires),
            "refresh_expiration": self._iso(pair.refresh_expires),
        }

    def _iso(self, api_time: float) -> str:
        real = self._clock.wall_clock(api_time)
        return datetime.fromtimestamp(real, tz=timezone.utc).isoformat()

    def _revoke_all(self, email: str) -> None:
        for pair in self._by_access.values():
            if pair.email == email:
                pair.revoked = True


def wire_credits(value: float) -> int | float:
    """Credits as ``/me`` sends them: a whole balance stays an integer (``10``, not
    ``10.0``), as it always was; a fractional one is a number (``9.75``)."""
    return int(value) if float(value).is_integer() else value


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
