"""Settling a start whose answer was lost: was it taken (and paid), or never started?

A start sent but never answered (connection dropped, 500/502/504) may or may not have
been charged. Starting it again at once could pay twice; waiting the whole notification
timeout (600 s) stalls the run. The evidence, sharpest first:

1. **Its notification.** It arrives: the start was taken (paid once). It is accepted at
   any time, even after a second start (first result wins; a second one is consumed and
   counted, see :meth:`~.notifications.NotificationHub.watch_for_extra`).
2. **The account's ledger.** ``GET /me`` is a ledger: the credits used since this
   process's first start, minus the starts confirmed since, say how many lost starts
   were charged — provided nothing else spent on the account meanwhile. Read once per
   lost start, one poll interval after it, while no start of this process is in
   flight. Another spender, a refund or a second lost start with a different outcome
   makes it "unknown", never a wrong "not charged" by itself. A lost start is booked as
   charged by its result only when no other start of the output was listening (a
   notification names the output, not the start): after a restart on time alone, the
   ledger answers "unknown".
3. **Time.** The settle window: the larger of ``PIKTID_LOST_START_WINDOW_SECONDS``
   (default 60) and 3x the slowest generation of the same kind seen in this process —
   ended sooner when two generations of that kind started *after* the lost one have
   come back and 3x the slowest one has passed (PiktID would have finished the lost
   one too).

Evidence "not charged", or the window over with nothing seen: the output is started
once more, and both starts are listened to. Evidence "charged": the original is waited
for up to the whole notification timeout.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future
from concurrent.futures import wait as wait_futures
from typing import Literal

from piktid_prefect.runtime import credits
from piktid_prefect.runtime.notifications import NotificationHub
from piktid_prefect.wire.errors import PiktidError
from piktid_prefect.wire.models import GenerationJob, Notification

__all__ = [
    "DEFAULT_WINDOW_SECONDS",
    "StartLedger",
    "StartSent",
    "settle",
    "window_seconds",
]

logger = logging.getLogger("piktid_prefect.runtime.lost_starts")

DEFAULT_WINDOW_SECONDS = 60.0
WINDOW_ENV = "PIKTID_LOST_START_WINDOW_SECONDS"
# Generations of the same kind started after the lost one that must have come back.
_LATER_RETURNS = 2
# ... and the lost one must have been waited for this many times the slowest seen
# (its own result, had it been taken, would be late by PiktID's own spread).
_SLOWEST_MARGIN = 3.0
_CHECK_EVERY_SECONDS = 0.25
# Starts of one output when every answer is lost (the first included).
_MAX_STARTS = 3
# How long the ledger check waits for this process's starts in flight to be answered.
_LEDGER_QUIET_SECONDS = 10.0

Verdict = Literal["charged", "not charged", "unknown"]


def window_seconds(hub: NotificationHub, kind: str, timeout_seconds: float) -> float:
    """How long a lost start is waited for before it is started again."""
    floor = float(os.environ.get(WINDOW_ENV, DEFAULT_WINDOW_SECONDS))
    slowest = hub.slowest_seconds(kind) or 0.0
    return min(max(floor, 3.0 * slowest), timeout_seconds)


class StartSent:
    """One start request inside :meth:`StartLedger.sending`."""

    def __init__(self) -> None:
        self.lost_job: GenerationJob | None = None

    def lost(self, job: GenerationJob) -> None:
        """The request was sent but its answer never came: charged or not, unknown yet."""
        self.lost_job = job


class StartLedger:
    """This process's starts on one account, held against the account's balance."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._baseline: float | None = None
        self._usable = True
        self._in_flight = 0
        self._checking = False
        self._charged = 0  # confirmed starts, and lost ones proven charged
        self._pending: set[str] = set()  # lost starts not settled yet
        self._ambiguous: set[str] = set()  # started again on time alone

    @contextlib.contextmanager
    def sending(self, read_balance: Callable[[], float]) -> Iterator[StartSent]:
        """Wrap one start request; the first one reads the baseline balance.

        The block's outcome is booked in the same step that ends it, so a ledger check
        never sees a start neither in flight nor booked: a block that ends normally
        is a start answered (charged), unless :meth:`StartSent.lost` was called; one
        that raises was refused (nothing charged).
        """
        with self._cond:
            while self._checking:
                self._cond.wait()
            if self._baseline is None and self._usable:
                try:
                    self._baseline = read_balance()
                except PiktidError as exc:
                    logger.debug("No balance baseline (%s): lost starts settle on time", exc)
                    self._usable = False
            self._in_flight += 1
        sent = StartSent()
        answered = False
        try:
            yield sent
            answered = True
        finally:
            with self._cond:
                self._in_flight -= 1
                if sent.lost_job is not None:
                    self._pending.add(_key(sent.lost_job))
                elif answered:
                    self._charged += 1
                self._cond.notify_all()

    def delivered(self, job: GenerationJob) -> None:
        """A lost start's own notification came: it had been charged."""
        with self._cond:
            key = _key(job)
            if key in self._pending or key in self._ambiguous:
                self._pending.discard(key)
                self._ambiguous.discard(key)
                self._charged += 1

    def restarted(self, job: GenerationJob, verdict: Verdict) -> None:
        with self._cond:
            self._pending.discard(_key(job))
            if verdict != "not charged":
                self._ambiguous.add(_key(job))

    def verdict(self, read_balance: Callable[[], float]) -> Verdict:
        """Whether this process's pending lost starts were charged (all, none, or unknown)."""
        with self._cond:
            if self._baseline is None or self._ambiguous or not self._pending:
                return "unknown"
            self._checking = True
            try:
                quiet = self._cond.wait_for(lambda: self._in_flight == 0, _LEDGER_QUIET_SECONDS)
                if not quiet:
                    return "unknown"
                try:
                    balance = read_balance()
                except PiktidError:
                    return "unknown"
                unexplained = round(self._baseline - balance) - self._charged
                if unexplained == 0:
                    return "not charged"
                if unexplained == len(self._pending):
                    self._charged += len(self._pending)
                    self._pending.clear()
                    return "charged"
                return "unknown"
            finally:
                self._checking = False
                self._cond.notify_all()


def _overtaken(hub: NotificationHub, job: GenerationJob, now: float) -> bool:
    """Later starts of the same kind came back, and longer than the slowest one took has
    passed: had the lost start been taken, its result would be here."""
    slowest = hub.slowest_seconds(job.kind)
    if slowest is None or now - job.started_at < _SLOWEST_MARGIN * slowest:
        return False
    return hub.came_back_after(job.kind, job.started_at) >= _LATER_RETURNS


def _key(job: GenerationJob) -> str:
    return f"{job.label} at={job.started_at:.6f}"


def settle(
    hub: NotificationHub,
    ledger: StartLedger,
    job: GenerationJob,
    *,
    timeout_seconds: float,
    read_balance: Callable[[], float],
    start_again: Callable[[], GenerationJob],
) -> tuple[Notification, GenerationJob]:
    """Wait for the lost start ``job``; start it once more when the evidence says so.

    Every start of the output stays listened to; the first result wins and the others
    are watched as extras. A start made again whose answer is lost too is settled the
    same way, up to ``_MAX_STARTS`` starts in all.

    Raises what the waits raise (``GenerationFailed``, ``NotificationTimeout``) when no
    start delivers.
    """
    listening: dict[Future[Notification], GenerationJob] = {}
    lost = job
    for _ in range(_MAX_STARTS - 1):
        remaining = max(0.0, timeout_seconds - (time.time() - lost.started_at))
        listening[hub.submit(lost, timeout_seconds=remaining)] = lost
        verdict = _await_evidence(hub, ledger, lost, listening, timeout_seconds, read_balance)
        if verdict is None or verdict == "charged":
            break  # a result came, or the lost start was paid: its result will come
        ledger.restarted(lost, verdict)
        if verdict == "not charged":
            credits.lost_start_not_charged()  # the run's spend: this start cost nothing
        logger.warning(
            "Starting %s once more: its start's answer was lost %.0f s ago and %s",
            lost.label,
            time.time() - lost.started_at,
            "the ledger shows it was not charged"
            if verdict == "not charged"
            else "nothing shows it was taken",
        )
        again = start_again()
        if again.confirmed:
            listening[hub.submit(again, timeout_seconds=timeout_seconds)] = again
            break
        lost = again
    return _first_result(hub, ledger, listening, timeout_seconds)


def _await_evidence(
    hub: NotificationHub,
    ledger: StartLedger,
    lost: GenerationJob,
    listening: dict[Future[Notification], GenerationJob],
    timeout_seconds: float,
    read_balance: Callable[[], float],
) -> Verdict | None:
    """``None`` once any start delivered; else the verdict that ends the wait."""
    window_ends = lost.started_at + window_seconds(hub, lost.kind, timeout_seconds)
    ledger_at = lost.started_at + hub.poll_interval_seconds
    verdict: Verdict | None = None
    while True:
        waiting = [future for future in listening if not future.done()]
        if len(waiting) < len(listening) and (
            not waiting or any(f.exception() is None for f in listening if f.done())
        ):
            return None  # a start delivered, or every start has failed
        wait_futures(waiting, timeout=_CHECK_EVERY_SECONDS, return_when=FIRST_COMPLETED)
        now = time.time()
        if verdict is None and now >= ledger_at:
            verdict = ledger.verdict(read_balance)
            logger.info("Lost start of %s: the account's ledger says %s", lost.label, verdict)
        if verdict == "charged":
            return verdict
        if verdict == "not charged" or now >= window_ends or _overtaken(hub, lost, now):
            return verdict or "unknown"


def _first_result(
    hub: NotificationHub,
    ledger: StartLedger,
    listening: dict[Future[Notification], GenerationJob],
    timeout_seconds: float,
) -> tuple[Notification, GenerationJob]:
    """The first result of the output's starts; the others are watched as extras."""
    pending = dict(listening)
    failure: BaseException | None = None
    while pending:
        done, _ = wait_futures(list(pending), return_when=FIRST_COMPLETED)
        for future in done:
            job = pending.pop(future)
            error = future.exception()
            if error is None:
                if not job.confirmed and len(listening) == 1:
                    # Proof it was charged only when no other start of the output could
                    # own this result: a notification names the output, not the start
                    # (the oldest waiter gets it). Else the ledger stays "unknown".
                    ledger.delivered(job)
                for other in pending:
                    hub.watch_for_extra(other, seconds=timeout_seconds)
                return future.result(), job
            failure = failure or error
    assert failure is not None
    raise failure
