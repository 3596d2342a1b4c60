"""What the command shows while a flow runs: one live progress bar, or plain lines.

The fan-out logs one record per finished output on the flow run's logger
(``"%d/%d delivered %s"`` / ``"%d/%d failed: %s"``, see :mod:`piktid_prefect.execution.fanout`).
A :class:`ProgressReport` is a logging handler on that logger: it reads those records'
arguments (and the flow run id every run record carries) and draws

- on a terminal, one live bar: outputs delivered / total, credits spent, elapsed, ETA,
  with each failed output named on its own line above it;
- elsewhere (a pipe, a CI log), one plain line per finished output;
- with ``-v``, nothing of its own: Prefect's log lines are shown instead.

Prefect's own console lines are silenced unless ``-v`` (see ``_environment``); its API
log handler is a separate handler, so every record still reaches the Prefect server.
Credits spent are read from PiktID's own ledger (``GET /me``: the balance at the start
minus the balance now), at most every few seconds, from a thread of its own.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, Literal

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["ProgressReport", "reporting"]

RUN_LOGGER = "prefect.flow_runs"
_DELIVERED = "%d/%d delivered %s"
_FAILED = "%d/%d failed: %s"
_BALANCE_EVERY_SECONDS = 3.0


class ProgressReport(logging.Handler):
    """A logging handler that turns the fan-out's records into a progress display.

    Args:
        console: Where to draw (stderr).
        mode: ``"bar"`` (a terminal), ``"lines"`` (plain lines) or ``"silent"``.
        balance: Reads the account's credit balance (``None`` when unknown).
    """

    def __init__(
        self,
        console: Console,
        *,
        mode: Literal["bar", "lines", "silent"],
        balance: Callable[[], float | None],
    ) -> None:
        super().__init__(level=logging.INFO)
        self.console = console
        self.mode = mode
        self.live = mode == "bar"
        self.flow_run_id: str | None = None
        self.delivered = 0
        self.failed = 0
        self.total: int | None = None
        self.summary = ""
        self._balance = balance
        self._start_balance: float | None = None
        self._spent: float | None = None
        self._stopped = threading.Event()
        self._progress = Progress(
            TextColumn("[bold]PiktID"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("outputs"),
            TextColumn("{task.fields[credits]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None
        self._lock = threading.Lock()

    # --- logging.Handler ------------------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        run_id = getattr(record, "flow_run_id", None)
        if self.flow_run_id is None and run_id:
            self.flow_run_id = str(run_id)
        if record.msg not in (_DELIVERED, _FAILED) or not isinstance(record.args, tuple):
            return
        try:
            done, total, detail = record.args
            failed = record.msg == _FAILED
            with self._lock:
                self.total = int(str(total))
                self.failed += failed
                self.delivered += not failed
            self._show(int(str(done)), str(detail), failed=failed)
        except Exception:
            self.handleError(record)

    # --- display -------------------------------------------------------------------------

    def _credits_text(self) -> str:
        if self._spent is None:
            return ""
        return f"{self._spent:g} credit{'' if self._spent == 1 else 's'}"

    def _show(self, done: int, detail: str, *, failed: bool) -> None:
        total = self.total or done
        if self.mode == "silent":
            return
        if not self.live:
            verb = "failed:" if failed else "delivered"
            self.console.print(f"{done}/{total} {verb} {detail}", highlight=False)
            return
        if failed:
            self._progress.console.print(f"[red]failed:[/] {escape(detail)}", highlight=False)
        if self._task is None:
            return
        self._progress.update(self._task, completed=done, total=total, credits=self._credits_text())

    def _watch_balance(self) -> None:
        while not self._stopped.wait(_BALANCE_EVERY_SECONDS):
            self._read_balance()

    def _read_balance(self) -> None:
        now = self._balance()
        if now is None or self._start_balance is None:
            return
        self._spent = max(0.0, self._start_balance - now)
        if self.live and self._task is not None:
            self._progress.update(self._task, credits=self._credits_text())

    def start(self) -> None:
        """Read the starting balance, then draw until :meth:`stop`."""
        self._start_balance = self._balance()
        if self.live:
            # No total until the upload says how many persons there are: the bar pulses.
            self._task = self._progress.add_task("outputs", total=None, credits="")
            self._progress.start()
        threading.Thread(target=self._watch_balance, name="piktid-credits", daemon=True).start()

    def stop(self) -> None:
        """Stop drawing; :attr:`summary` then says what the run delivered and spent."""
        self._stopped.set()
        self._read_balance()
        if self.live:
            self._progress.stop()
        parts = [f"{self.delivered} delivered"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self._spent is not None:
            parts.append(f"{self._credits_text()} spent")
        self.summary = ", ".join(parts)


@contextlib.contextmanager
def reporting(report: ProgressReport | None) -> Iterator[ProgressReport | None]:
    """Attach ``report`` to the flow run logger for the duration of the block."""
    if report is None:
        yield None
        return
    # Prefect configures logging (replacing the handlers of its loggers) when its flow API
    # is first imported: that must happen before this handler is attached, not after.
    from prefect.logging.configuration import ensure_logging_setup

    ensure_logging_setup()
    logger = logging.getLogger(RUN_LOGGER)
    logger.addHandler(report)
    report.start()
    try:
        yield report
    finally:
        logger.removeHandler(report)
        report.stop()


def balance_reader(credentials: Callable[[], Any]) -> Callable[[], float | None]:
    """Reads the account's balance through the runtime's one reader; ``None`` on any error.

    Args:
        credentials: Returns the run's :class:`PiktidCredentials` block (called once).
    """
    lock = threading.Lock()
    accounts: list[Any] = []

    def read() -> float | None:
        from piktid_prefect.runtime import generation

        with lock:
            try:
                if not accounts:
                    accounts.append(credentials())
                return generation.balance(accounts[0], once=True)
            except Exception:
                return None

    return read
