"""The PiktID credentials block, and the one place a credentials argument is resolved."""

from __future__ import annotations

import hashlib
import os
from typing import Any, Union, cast

from prefect.blocks.abstract import CredentialsBlock
from pydantic import Field, SecretStr, field_validator, model_validator

from piktid_prefect.runtime import registry
from piktid_prefect.wire.client import DEFAULT_BASE_URL, AsyncPiktidClient, PiktidClient, Timeouts
from piktid_prefect.wire.errors import InvalidConfiguration
from piktid_prefect.wire.images import check_base_url

__all__ = ["CredentialsLike", "PiktidCredentials", "resolve_credentials"]


# Prefect requires http(s) URLs. The logo is PiktID's own, at the address PiktID's public
# clients show it from (their READMEs); the documentation is this package's page on the
# package index, where its README is rendered.
LOGO_URL = "https://studio.piktid.com/logo.svg"
DOCUMENTATION_URL = "https://pypi.org/project/piktid-prefect/"


class PiktidCredentials(CredentialsBlock):
    """Credentials for the PiktID image API: an access token, or an e-mail and password.

    An access token (valid 30 days) is used as it is; with an e-mail and password the
    client logs in, refreshes its one-time refresh token, and logs in again when needed.

    Example:
        Load stored credentials and check the balance:
        ```python
        from piktid_prefect import PiktidCredentials

        piktid_credentials = PiktidCredentials.load("BLOCK_NAME")
        with piktid_credentials.get_client() as client:
            print(client.me().credits)
        ```
    """

    _block_type_name = "PiktID Credentials"
    _block_type_slug = "piktid-credentials"
    _logo_url = LOGO_URL  # type: ignore[assignment]
    _documentation_url = DOCUMENTATION_URL  # type: ignore[assignment]

    access_token: SecretStr | None = Field(
        default=None, description="A PiktID access token (Bearer); leave empty to log in."
    )
    email: str | None = Field(default=None, description="Account e-mail, to log in.")
    password: SecretStr | None = Field(default=None, description="Account password, to log in.")
    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        description="API base URL; plain http is accepted only for loopback hosts.",
    )
    timeout_seconds: float = Field(
        default=60.0, gt=0, description="Read timeout of ordinary API calls, in seconds."
    )
    poll_interval_seconds: float = Field(
        default=3.0,
        gt=0,
        description="Seconds between notification polls for this account (PiktID asks >= 3).",
    )

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        return check_base_url(value)

    @model_validator(mode="after")
    def _check_auth_method(self) -> PiktidCredentials:
        has_login = bool(self.email) and self.password is not None
        if self.access_token is None and not has_login:
            raise InvalidConfiguration(
                "PiktidCredentials needs an access_token, or an email and a password"
            )
        if bool(self.email) != (self.password is not None):
            raise InvalidConfiguration("PiktidCredentials: email and password go together")
        return self

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> PiktidCredentials:
        """Build from ``PIKTID_BASE_URL``, ``PIKTID_ACCESS_TOKEN`` or ``PIKTID_EMAIL`` +
        ``PIKTID_PASSWORD``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            "access_token": env.get("PIKTID_ACCESS_TOKEN") or None,
            "email": env.get("PIKTID_EMAIL") or None,
            "password": env.get("PIKTID_PASSWORD") or None,
        }
        if env.get("PIKTID_BASE_URL"):
            values["base_url"] = env["PIKTID_BASE_URL"]
        return cls(**values)

    @property
    def account_key(self) -> str:
        """A stable identifier of (base URL, account) that reveals no secret."""
        identity = self.email or (self.access_token.get_secret_value() if self.access_token else "")
        digest = hashlib.sha256(f"{self.base_url}\n{identity}".encode()).hexdigest()
        return digest[:16]

    def _client_kwargs(self, overrides: dict[str, Any]) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "email": self.email,
            "password": self.password,
            "timeouts": Timeouts(read_seconds=self.timeout_seconds),
            **overrides,
        }

    def get_client(self, **overrides: Any) -> PiktidClient:
        """A new synchronous client; close it (or use ``with``) when done.

        Args:
            **overrides: Other :class:`~piktid_prefect.wire.client.PiktidClient` arguments
                (``retry``, ``timeouts``, ``transport``).
        """
        return PiktidClient(self.base_url, **self._client_kwargs(overrides))

    def get_async_client(self, **overrides: Any) -> AsyncPiktidClient:
        """A new asynchronous client; close it (or use ``async with``) when done."""
        return AsyncPiktidClient(self.base_url, **self._client_kwargs(overrides))


# A block, the name of a saved block, or None for the PIKTID_* environment variables.
CredentialsLike = Union[PiktidCredentials, str, None]  # noqa: UP007 - Prefect parameter schema


def resolve_credentials(credentials: CredentialsLike) -> PiktidCredentials:
    """Turn a block, a saved block's name, or None (environment) into a block.

    A saved block is loaded once per process: every task of a run resolves the same name.
    """
    if isinstance(credentials, PiktidCredentials):
        return credentials
    if credentials is None:
        return PiktidCredentials.from_env()
    name = credentials
    return registry.shared(
        "credentials-block", name, lambda: cast(PiktidCredentials, PiktidCredentials.load(name))
    )
