"""Keep tokens out of the HTTP stack's own debug logs.

httpcore's DEBUG trace prints raw response headers, and PiktID's token answer sets the
refresh token as a cookie. A filter on the HTTP libraries' loggers masks anything that
looks like a credential before a handler sees the record. Logger filters run only for
records that pass the level check, so this costs nothing unless DEBUG logging is on.
"""

from __future__ import annotations

import logging

from piktid_prefect.wire.errors import redact

__all__ = ["RedactCredentials", "install"]

# Filters on a logger do not apply to its children: every logger that emits is listed.
HTTP_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


class RedactCredentials(logging.Filter):
    """Masks bearer/basic credentials and token or password fields in a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = RedactCredentials()


def install() -> None:
    """Add the filter to the HTTP libraries' loggers (once)."""
    for name in HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
