"""The one exception the emulator's core raises to answer an HTTP error."""

from __future__ import annotations

__all__ = ["ApiError"]

_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class ApiError(Exception):
    """An HTTP error answer, rendered as PiktID's ``{code, message, description}`` body.

    Args:
        status: HTTP status code.
        message: What went wrong, for the client (never a credential).
        headers: Extra response headers (e.g. ``Retry-After``).
    """

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        """The JSON error body."""
        return {
            "code": self.status,
            "message": self.message,
            "description": _DESCRIPTIONS.get(self.status, "Error"),
        }
