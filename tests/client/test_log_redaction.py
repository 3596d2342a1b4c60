"""The HTTP libraries' debug logs never carry a credential."""

from __future__ import annotations

import logging

import pytest

import piktid_prefect.wire.client  # noqa: F401  (installs the filter, as any use of the client does)
from piktid_prefect.wire._log_redaction import HTTP_LOGGERS

TRACE = (
    "receive_response_headers.complete return_value=(b'HTTP/1.1', 200, b'OK', "
    "[(b'content-type', b'application/json'), "
    "(b'set-cookie', b'refresh_token=rt-SECRET.part_2-x; HttpOnly; Path=/')])"
)


@pytest.mark.parametrize("name", HTTP_LOGGERS)
def test_http_debug_lines_are_masked(name: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger=name):
        logging.getLogger(name).debug("%s", TRACE)
        logging.getLogger(name).debug("Authorization: Bearer at-SECRET-123")
    text = caplog.text
    assert "SECRET" not in text
    assert "refresh_token=***" in text and "Bearer ***" in text
    assert "content-type" in text  # the rest of the line is kept


def test_other_loggers_are_left_alone(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="someone.else"):
        logging.getLogger("someone.else").debug("refresh_token=kept")
    assert "refresh_token=kept" in caplog.text
