"""How the command reports a problem: one line on stderr, and an exit status.

- bad input (:class:`InvalidInput`, a pydantic ``ValidationError``): status 2;
- a run that failed (:class:`PiktidError`: outputs failed, the account is out of
  credits, ...): status 1, after every delivered output was written;
- anything else: status 1, one line naming the error and the file holding its full
  traceback (``-v`` prints the traceback instead).
"""

from __future__ import annotations

import os
import tempfile
import traceback
from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from piktid_prefect.cli._environment import STARTUP_TIMEOUT_VARIABLE
from piktid_prefect.wire.errors import InvalidInput, PiktidError, redact

__all__ = ["console", "fail", "first_line", "report_error"]

console = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` (secrets redacted) and exit with ``code``."""
    # escape(): a message quotes user input and commands ("piktid-prefect[emulator]"),
    # whose square brackets rich would otherwise take for markup and drop.
    console.print(f"[bold red]error:[/] {escape(redact(message))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (pydantic: every problem on one line)."""
    if isinstance(exc, ValidationError):
        return "; ".join(str(e.get("msg", "")) for e in exc.errors())
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def report_error(exc: BaseException, *, verbose: bool) -> NoReturn:
    """Exit with one line for ``exc`` (see the module docstring)."""
    if isinstance(exc, (InvalidInput, ValidationError)):
        fail(first_line(exc), 2)
    if isinstance(exc, PiktidError):
        fail(first_line(exc), 1)
    if verbose:
        console.print_exception()
        fail(f"{type(exc).__name__}: {first_line(exc)}", 1)
    where = _save_traceback(exc)
    if isinstance(exc, RuntimeError) and "ephemeral Prefect API server" in str(exc):
        timeout = os.environ.get(STARTUP_TIMEOUT_VARIABLE, "?")
        fail(
            f"the temporary Prefect server did not start within {timeout} s; raise "
            f"{STARTUP_TIMEOUT_VARIABLE} or set PREFECT_API_URL to a running server "
            f"(full traceback: {where})",
            1,
        )
    fail(f"{type(exc).__name__}: {first_line(exc)} (full traceback: {where}; or run with -v)", 1)


def _save_traceback(exc: BaseException) -> str:
    text = redact("".join(traceback.format_exception(exc)))
    fd, path = tempfile.mkstemp(prefix="piktid-prefect-error-", suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path
