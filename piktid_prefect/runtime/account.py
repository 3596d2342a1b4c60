"""What the runtime needs to know of an account: a structural type, no Prefect import.

:class:`~piktid_prefect.credentials.PiktidCredentials` (a Prefect block) satisfies it; the
runtime never imports the block, so it stays below the Prefect surface.
"""

from __future__ import annotations

from typing import Any, Protocol

from piktid_prefect.wire.client import PiktidClient

__all__ = ["AccountAccess"]


class AccountAccess(Protocol):
    """An account and how to reach it (not :class:`~piktid_prefect.wire.models.Account`,
    the `GET /me` answer: this is the way in, that is what the account holds)."""

    @property
    def account_key(self) -> str:
        """Stable, secret-free id of (base URL, account)."""
        ...

    @property
    def base_url(self) -> str: ...

    @property
    def timeout_seconds(self) -> float: ...

    @property
    def poll_interval_seconds(self) -> float: ...

    def get_client(self, **overrides: Any) -> PiktidClient:
        """A new sync client for the account."""
        ...
