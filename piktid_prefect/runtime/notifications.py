"""One notification poller per process and account, shared by every waiting job.

PiktID reports finished generations only through notifications that every client of an
account must poll (at most once every 3 s) and that vanish 600 s after creation. If each
waiting job polled on its own, requests would grow with the number of jobs and trip the
rate limit. Instead a :class:`NotificationHub` runs one polling thread per account:

- jobs register with :meth:`NotificationHub.submit` and get a ``concurrent.futures.Future``
  (sync callers block on it, async callers wrap it with ``asyncio.wrap_future``);
- each poll hands every matching notification to the oldest waiting job it belongs to,
  deletes it (only what this process consumed: other processes of the same account see
  the rest), and fails the job on its ``error`` notification. The deletes run beside the
  polling, a few at once: one after the other on the polling thread, a poll that
  answered a dozen results held the next poll back by a dozen round trips;
- the thread polls only while someone waits, at ``poll_interval_seconds``, backs off on
  429/5xx/transport errors, logs on state change only, and stops when idle;
- every job has its own monotonic deadline and fails with
  :class:`~piktid_prefect.wire.errors.NotificationTimeout` naming the job.

A poller that was paused (machine asleep, process stopped) past the 600 s lifetime loses
those notifications; the affected jobs time out by name and polling carries on for the
rest, so a re-run pays only for them.

A notification names its output, not its start, and one whose delete failed stays listed
for every process of the account. A job is never given one that *predates* it
(:mod:`.predating`: listed before the start, or stamped before it by the server's clock
as measured), so that a start never takes what an earlier start of the same output left
behind, in this process or another (issue 22). :meth:`NotificationHub.before_start` lists
the account's notifications just before a start when no listing is recent, so that even a
fresh process has seen what was there before its first start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from piktid_prefect.runtime.predating import ListingMemory
from piktid_prefect.wire.errors import (
    GenerationFailed,
    NotificationTimeout,
    PiktidError,
    RateLimited,
    is_transient,
)
from piktid_prefect.wire.models import NOTIFICATION_ERROR, Notification
from piktid_prefect.wire.models_chain import (
    NOTIFICATION_IDENTITY_SWAP,
    NOTIFICATION_UPSCALE,
    StartedJob,
)

if TYPE_CHECKING:
    from piktid_prefect.wire.client import PiktidClient

__all__ = ["DEFAULT_POLL_INTERVAL_SECONDS", "DEFAULT_TIMEOUT_SECONDS", "NotificationHub"]

logger = logging.getLogger("piktid_prefect.runtime.notifications")

# PiktID's docs: "a request every 3 seconds at most, to not incur in rate limiting".
DEFAULT_POLL_INTERVAL_SECONDS = 3.0
# How long an output's notification is waited for by default: PiktID keeps one 600 s.
DEFAULT_TIMEOUT_SECONDS = 600.0
# One poll asks for every product's results at once (edits and the chained steps after
# them): the 3 s poll limit is per account, so a second poller would halve the rate.
POLLED_NAMES = (
    "edit_generate",
    "edit_background",
    NOTIFICATION_UPSCALE,
    NOTIFICATION_IDENTITY_SWAP,
    NOTIFICATION_ERROR,
)
# How long a consumed notification (its id, its result's link) is remembered: longer
# than PiktID keeps one (600 s), so a copy still listed is never handed out again.
_RECENT_SECONDS = 900.0
_MAX_BACKOFF_SECONDS = 60.0
# Deletes in flight at once (besides the polls): a dozen per poll take a few round trips.
_DELETE_THREADS = 4
_MAX_BACKOFF_DOUBLINGS = 3


@dataclass(eq=False)
class _Waiter:
    job: StartedJob
    deadline: float
    future: Future[Notification] = field(default_factory=Future)
    # Nobody awaits it any more: a result that still comes is consumed and counted.
    extra: bool = False


# How many delivered jobs are remembered for the lost-start evidence.
_RETURNED_KEPT = 1_000


class NotificationHub:
    """Polls one account's notifications and routes each to the job it belongs to.

    Args:
        client_factory: Builds the (sync) client the polling thread uses. It should not
            retry by itself: a failed poll is simply repeated at the next interval, so
            that waiting jobs' deadlines are checked between polls.
        poll_interval_seconds: Pause between two polls (PiktID asks for >= 3 s).
    """

    def __init__(
        self,
        client_factory: Callable[[], PiktidClient],
        *,
        poll_interval_seconds: float = DEFAULT_POLL_INTERVAL_SECONDS,
    ) -> None:
        self._client_factory = client_factory
        self.poll_interval_seconds = poll_interval_seconds
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._waiters: list[_Waiter] = []
        self._recent_links: dict[str, float] = {}
        # Consumed notifications by id: one whose delete failed is listed again by the
        # next poll, and an ``error`` one carries nothing else that tells it is stale.
        self._consumed_ids: dict[int, float] = {}
        self._deleting: set[int] = set()  # ids whose delete is in flight
        self._deletes: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._polling_client: PiktidClient | None = None
        # The first poll comes one interval after the first job: no result is ready sooner.
        self._last_poll: float | None = None
        self.polls = 0
        # (kind, started_at epoch, seconds to its result) of recently delivered jobs.
        self._returned: list[tuple[str, float, float]] = []
        self.extra_results = 0
        # What listings showed and when: no job takes a notification that predates it.
        self._listings = ListingMemory(keep_seconds=_RECENT_SECONDS)
        # One listing at a time: the polling thread's or before_start()'s; when the last
        # one was received, and when one was last sent (``_last_poll`` is also set by a
        # first submit, which lists nothing).
        self._listing = threading.Lock()
        self._last_listing: float | None = None
        self._last_listing_try: float | None = None

    # --- public -----------------------------------------------------------------------

    def submit(self, job: StartedJob, *, timeout_seconds: float) -> Future[Notification]:
        """Register ``job``; the future resolves to its result notification.

        It fails with :class:`GenerationFailed` on the job's ``error`` notification and
        with :class:`NotificationTimeout` after ``timeout_seconds``.
        """
        waiter = _Waiter(job=job, deadline=time.monotonic() + timeout_seconds)
        waiter.future.timeout_seconds = timeout_seconds  # type: ignore[attr-defined]
        with self._wake:
            self._waiters.append(waiter)
            if self._last_poll is None:
                self._last_poll = time.monotonic()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="piktid-notification-hub", daemon=True
                )
                self._thread.start()
            self._wake.notify_all()
        return waiter.future

    def wait(self, job: StartedJob, *, timeout_seconds: float) -> Notification:
        """Block until ``job``'s notification arrives (see :meth:`submit`)."""
        return self.submit(job, timeout_seconds=timeout_seconds).result()

    def before_start(self) -> None:
        """Call just before sending a start: list the account's notifications first,
        unless a listing is recent, so that none already there is taken for the start.

        A failed listing is not an error: the start goes ahead, guarded by the server's
        clock only (see the module docstring).
        """
        if self._listed_recently():
            # The usual case while jobs wait: the polling thread lists every interval, and
            # a start must not queue behind its listing in flight.
            return
        with self._listing:
            with self._lock:
                # Listed while this start waited for the lock, or a listing failed (a 429)
                # within the interval: not tried again sooner.
                if self._listed_recently() or self._recent(self._last_listing_try):
                    return
                self._last_poll = self._last_listing_try = time.monotonic()
            self.polls += 1
            try:
                client = self._client()
                notifications = client.notifications(POLLED_NAMES)
            except PiktidError as exc:
                logger.debug("Listing before a start failed (%s); starting anyway", exc)
                return
            self._last_listing = time.monotonic()
            self._dispatch(client, notifications, listed_at=time.time())

    def _listed_recently(self) -> bool:
        # PiktID asks for one listing per 3 s at most: a start within the interval of the
        # last one relies on it (and on the server's clock for anything newer).
        return self._recent(self._last_listing)

    def _recent(self, instant: float | None) -> bool:
        return instant is not None and time.monotonic() - instant < self.poll_interval_seconds

    def cancel_all(self, exc: Exception) -> None:
        """Fail every waiting job with ``exc`` (the run was stopped)."""
        self._fail_all(exc)

    def watch_for_extra(self, future: Future[Notification], *, seconds: float) -> None:
        """``future``'s job is no longer awaited (another start of the output won).

        If its result still comes within ``seconds`` it is consumed (deleted, so it does
        not linger for 600 s) and counted in :attr:`extra_results`; then it is dropped.
        """
        with self._wake:
            for waiter in self._waiters:
                if waiter.future is future:
                    waiter.extra = True
                    waiter.deadline = min(waiter.deadline, time.monotonic() + seconds)
            self._wake.notify_all()

    def slowest_seconds(self, kind: str) -> float | None:
        """The longest start-to-result time of a ``kind`` job delivered so far."""
        with self._lock:
            times = [seconds for k, _, seconds in self._returned if k == kind]
        return max(times) if times else None

    def came_back_after(self, kind: str, started_at: float) -> int:
        """How many ``kind`` jobs started after ``started_at`` (epoch) were delivered."""
        with self._lock:
            return sum(1 for k, start, _ in self._returned if k == kind and start > started_at)

    @property
    def waiting(self) -> int:
        """How many jobs are waiting."""
        with self._lock:
            return len(self._waiters)

    # --- the polling thread ---------------------------------------------------------------

    def _client(self) -> PiktidClient:
        # Kept across polling threads: building a client may mean logging in again.
        with self._lock:
            if self._polling_client is None:
                self._polling_client = self._client_factory()
            return self._polling_client

    def close(self) -> None:
        """Finish the deletes in flight, close the polling client (the next job builds one)."""
        with self._lock:
            client, self._polling_client = self._polling_client, None
            deletes, self._deletes = self._deletes, None
        if deletes is not None:
            deletes.shutdown(wait=True)
        if client is not None:
            client.close()

    def wait_for_deletes(self, timeout_seconds: float) -> bool:
        """Wait until no delete is in flight; False if some still are after the timeout."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            with self._lock:
                if not self._deleting:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def _run(self) -> None:
        try:
            self._poll_until_idle(self._client())
        except BaseException as exc:
            # Never leave a job waiting on a dead thread.
            logger.exception("Notification polling stopped")
            self._fail_all(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
            with self._lock:
                self._thread = None

    def _poll_until_idle(self, client: PiktidClient) -> None:
        assert self._last_poll is not None
        next_poll = self._last_poll + self.poll_interval_seconds
        failures = 0
        state = "polling"
        while True:
            with self._wake:
                self._expire_waiters()
                if not self._waiters:
                    self._thread = None
                    return
                # A listing made by before_start() counts as a poll (rate limit).
                next_poll = max(next_poll, self._last_poll + self.poll_interval_seconds)
                delay = next_poll - time.monotonic()
                if delay > 0:
                    earliest = min(w.deadline for w in self._waiters) - time.monotonic()
                    self._wake.wait(timeout=max(0.0, min(delay, earliest)))
                    continue
            try:
                with self._listing:
                    self.polls += 1
                    self._last_poll = self._last_listing_try = time.monotonic()
                    notifications = client.notifications(POLLED_NAMES)
                    listed_at, self._last_listing = time.time(), time.monotonic()
                    # Dispatched under the same lock: a listing before a start must not
                    # be handed out before an older one.
                    self._dispatch(client, notifications, listed_at=listed_at)
            except RateLimited as exc:
                wait = exc.retry_after_seconds or self.poll_interval_seconds
                next_poll = time.monotonic() + max(wait, self.poll_interval_seconds)
                continue
            except PiktidError as exc:
                if not is_transient(exc):
                    self._fail_all(exc)
                    continue
                failures += 1
                backoff = min(
                    self.poll_interval_seconds * 2 ** min(failures, _MAX_BACKOFF_DOUBLINGS),
                    _MAX_BACKOFF_SECONDS,
                )
                next_poll = time.monotonic() + backoff
                if state != "failing":
                    logger.warning("Notification polling failing (%s); backing off", exc)
                    state = "failing"
                continue
            failures = 0
            next_poll = time.monotonic() + self.poll_interval_seconds
            if state != "polling":
                logger.info("Notification polling recovered")
                state = "polling"

    def _expire_waiters(self) -> None:
        now = time.monotonic()
        for waiter in [w for w in self._waiters if w.deadline <= now]:
            self._waiters.remove(waiter)
            timeout = waiter.future.timeout_seconds  # type: ignore[attr-defined]
            waiter.future.set_exception(
                NotificationTimeout(
                    f"No notification for {waiter.job.label} within {timeout:g} s"
                    " (PiktID keeps notifications 600 s; the job may have been lost)",
                    job=waiter.job.label,
                    timeout_seconds=timeout,
                )
            )

    def _fail_all(self, exc: Exception) -> None:
        with self._lock:
            waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.future.set_exception(exc)

    def _dispatch(
        self, client: PiktidClient, notifications: Iterable[Notification], *, listed_at: float
    ) -> None:
        consumed: list[int] = []
        now = time.monotonic()
        notifications = list(notifications)
        with self._lock:
            self._recent_links = {
                url: t for url, t in self._recent_links.items() if now - t < _RECENT_SECONDS
            }
            self._consumed_ids = {
                nid: t for nid, t in self._consumed_ids.items() if now - t < _RECENT_SECONDS
            }
            self._listings.note(notifications, listed_at, now)
            # Oldest notification first: with several jobs of the same identity, the
            # first started gets the first result.
            for notification in sorted(notifications, key=lambda n: (n.timestamp, n.id)):
                if notification.id in self._consumed_ids:
                    # Handed out already, its delete failed: a second start of the same
                    # output would take it for its own. Delete it again, nothing more.
                    consumed.append(notification.id)
                    continue
                waiter = self._owner(notification)
                if waiter is None:
                    if self._is_duplicate(notification):
                        consumed.append(notification.id)
                    continue
                self._waiters.remove(waiter)
                consumed.append(notification.id)
                self._consumed_ids[notification.id] = now
                self._resolve(waiter, notification, now)
        self._delete_soon(client, consumed)

    def _delete_soon(self, client: PiktidClient, notification_ids: list[int]) -> None:
        with self._lock:
            # Listed again while its delete is in flight: that delete is enough.
            fresh = [nid for nid in notification_ids if nid not in self._deleting]
            self._deleting.update(fresh)
            if self._deletes is None:
                self._deletes = ThreadPoolExecutor(
                    _DELETE_THREADS, thread_name_prefix="piktid-notification-delete"
                )
            deletes = self._deletes
        for notification_id in fresh:
            deletes.submit(self._delete, client, notification_id)

    def _delete(self, client: PiktidClient, notification_id: int) -> None:
        try:
            client.delete_notification(notification_id)
        except Exception as exc:
            # Not fatal: an undeleted notification expires by itself after 600 s, and one
            # listed again is never handed out again (``_consumed_ids``).
            logger.debug("Could not delete notification %s: %s", notification_id, exc)
        finally:
            with self._lock:
                self._deleting.discard(notification_id)

    def _owner(self, notification: Notification) -> _Waiter | None:
        candidates = [
            w
            for w in self._waiters
            if w.job.matches(notification) and not self._listings.predates(notification, w.job)
        ]
        return min(candidates, key=lambda w: w.job.started_at) if candidates else None

    def _is_duplicate(self, notification: Notification) -> bool:
        links = notification.links if notification.name != NOTIFICATION_ERROR else []
        return bool(links) and all(link.url in self._recent_links for link in links)

    def _resolve(self, waiter: _Waiter, notification: Notification, now: float) -> None:
        if notification.name == NOTIFICATION_ERROR:
            tasks = str(notification.data.get("tasks", ""))
            msg = str(notification.data.get("msg", ""))
            waiter.future.set_exception(
                GenerationFailed(
                    f"PiktID reported an error for {waiter.job.label}: {msg or 'no message'}"
                    + (f" (in {tasks})" if tasks else ""),
                    tasks=tasks,
                    msg=msg,
                    job=waiter.job.label,
                )
            )
            return
        for link in notification.links:
            self._recent_links[link.url] = now
        job = waiter.job
        kind = getattr(job, "kind", job.notification_name)
        self._returned.append((kind, job.started_at, max(0.0, time.time() - job.started_at)))
        del self._returned[:-_RETURNED_KEPT]
        if waiter.extra:
            self.extra_results += 1
            logger.info("A second result for %s came and was consumed (paid twice)", job.label)
        waiter.future.set_result(notification)
