"""Run one flow from the command line so that a stop signal ends it at once, cleanly.

``timeout``, ``docker stop``, Kubernetes and Prefect workers stop a process with SIGTERM
(then SIGKILL after a grace period, 30 s on Kubernetes). Run in the main thread, a flow
answers SIGTERM only after every in-flight generation has come back: Prefect's task
runner waits for its threads on the way out, and they wait for PiktID's notifications.

So the flow runs in a thread of its own and the main thread supervises it. On SIGTERM
or SIGINT the supervisor, within a bounded time whatever state the Prefect API is in:

1. marks the flow run Cancelled, if the Prefect server still answers (a few seconds at
   most: the temporary server may already have been stopped by the same signal);
2. stops the temporary Prefect server and any other child process;
3. exits with 128 + the signal number (143 for SIGTERM, 130 for SIGINT).

Generations already started stay in the crash journal (nothing settles them), so a
re-run within PiktID's 600 s notification lifetime collects them instead of paying again.
A second signal, or cleanup that overruns its deadline, exits at once.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

from piktid_prefect.cli._children import stop_children

__all__ = ["CLEANUP_DEADLINE_SECONDS", "StopRequested", "supervise"]

T = TypeVar("T")

# Everything after a stop signal fits in this, well inside Kubernetes' 30 s grace.
CLEANUP_DEADLINE_SECONDS = 15.0
_MARK_SECONDS = 5.0
_JOIN_POLL_SECONDS = 0.2


class StopRequested(BaseException):
    """Raised in the main thread by the SIGTERM handler (SIGINT raises KeyboardInterrupt)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise StopRequested(signum)


# What the stop line promises: the journal keeps the paid jobs for a re-run.
RERUN_COLLECTS = (
    "Generations already paid for stay in the journal; run the same command again within "
    "10 minutes to collect them without paying again."
)


def supervise(
    call: Callable[[], T],
    *,
    flow_run_id: Callable[[], str | None],
    announce: Callable[[str], None],
    stop_note: str = RERUN_COLLECTS,
) -> T:
    """Run ``call`` (a flow) in a thread; on SIGTERM/SIGINT stop as described above.

    Args:
        call: Runs the flow and returns its result.
        flow_run_id: The id of the flow run, once known (to mark it Cancelled).
        announce: Prints one line on the terminal.
        stop_note: Said after "SIGTERM: stopping." (what becomes of the paid jobs).
    """
    outcome: dict[str, Any] = {}
    # Settings made with Prefect's temporary_settings() live in context variables.
    context = contextvars.copy_context()

    def run() -> None:
        try:
            outcome["result"] = context.run(call)
        except BaseException as exc:
            outcome["error"] = exc

    previous = signal.signal(signal.SIGTERM, _raise_stop)
    # Daemon: when the supervisor exits on a signal, the run's threads end with it.
    thread = threading.Thread(target=run, name="piktid-flow", daemon=True)
    try:
        thread.start()
        while thread.is_alive():
            thread.join(_JOIN_POLL_SECONDS)
    except StopRequested as stop:
        _stop_now(stop.signum, flow_run_id(), announce, stop_note)
    except KeyboardInterrupt:
        _stop_now(signal.SIGINT, flow_run_id(), announce, stop_note)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if "error" in outcome:
        raise outcome["error"]
    result: T = outcome["result"]
    return result


def _stop_now(signum: int, run_id: str | None, announce: Callable[[str], None], note: str) -> None:
    code = 128 + signum
    # A second signal, or a cleanup step that hangs, ends the process at once.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: _exit_now(code))
    watchdog = threading.Timer(CLEANUP_DEADLINE_SECONDS, _exit_now, args=(code,))
    watchdog.daemon = True
    watchdog.start()
    name = signal.Signals(signum).name
    announce(f"{name}: stopping. {note}")
    if run_id is not None:
        _bounded(_mark_cancelled, run_id, f"Stopped by {name} (piktid-prefect command line)")
    stop_children()
    _exit_now(code)


def _bounded(step: Callable[..., None], *args: Any) -> None:
    """Run ``step`` in a thread, giving it at most a few seconds."""
    worker = threading.Thread(target=step, args=args, daemon=True)
    worker.start()
    worker.join(_MARK_SECONDS)


def _mark_cancelled(run_id: str, message: str) -> None:
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled

    try:
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(UUID(run_id), Cancelled(message=message), force=True)
    except Exception:
        # The server is gone (the same signal may have stopped it): nothing to record.
        pass


def _exit_now(code: int) -> None:
    stop_children(grace_seconds=0.5)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
