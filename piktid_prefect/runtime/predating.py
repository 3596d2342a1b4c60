"""Whether a listed notification predates a start: it then belongs to an earlier start.

A notification names its output, not its start, and one whose delete failed stays listed
for every process of the account (600 s). A start must never take one left behind by an
earlier start of the same output, in this process or another (issue 22). Two proofs, each
unable to refuse a job its own notification:

- **listed before the start** (only our clock): a listing received before the job's
  ``started_at`` already showed it;
- **stamped before the start, by the server's clock as measured**: a notification listed
  at our time ``t`` was stamped at or before the server's time ``t``, so
  ``timestamp - t`` is a lower bound of how far the server's clock is ahead of ours
  (the *lead*). A job's own notification is stamped at or after its start reached the
  server, i.e. at or after ``started_at + true lead >= started_at + measured lead``.
  One stamped more than :data:`SKEW_ALLOWANCE_SECONDS` earlier than that predates it.
  Clocks minutes apart change nothing: the lead is measured, never assumed.

Either can only let a stale one through (then it is taken, as before), unless our clock
steps back between a listing and a start.
"""

from __future__ import annotations

from collections.abc import Iterable

from piktid_prefect.wire.models import Notification
from piktid_prefect.wire.models_chain import StartedJob

__all__ = ["SKEW_ALLOWANCE_SECONDS", "ListingMemory"]

# Timestamps of one account's notifications may come from several server machines, whose
# clocks agree within this much.
SKEW_ALLOWANCE_SECONDS = 2.0


class ListingMemory:
    """What the listings of one account showed, and when (not thread-safe: the hub's lock).

    Args:
        keep_seconds: How long a listing is remembered (longer than PiktID keeps a
            notification, 600 s).
    """

    def __init__(self, keep_seconds: float) -> None:
        self.keep_seconds = keep_seconds
        self._first_seen: dict[int, float] = {}  # notification id -> epoch of its listing
        self._leads: list[tuple[float, float]] = []  # (monotonic when, lead seconds)

    def note(self, notifications: Iterable[Notification], listed_at: float, now: float) -> None:
        """A listing received at ``listed_at`` (epoch; ``now`` monotonic)."""
        horizon = listed_at - self.keep_seconds
        self._first_seen = {nid: t for nid, t in self._first_seen.items() if t > horizon}
        stamped = []
        for notification in notifications:
            self._first_seen.setdefault(notification.id, listed_at)
            if notification.timestamp > 0:
                stamped.append(notification.timestamp)
        self._leads = [(t, lead) for t, lead in self._leads if now - t < self.keep_seconds]
        if stamped:
            self._leads.append((now, max(stamped) - listed_at))

    def predates(self, notification: Notification, job: StartedJob) -> bool:
        """Whether ``notification`` existed before ``job`` was started."""
        if self._first_seen.get(notification.id, float("inf")) < job.started_at:
            return True
        if not self._leads or notification.timestamp <= 0:
            return False
        lead = max(lead for _, lead in self._leads)
        return notification.timestamp + SKEW_ALLOWANCE_SECONDS < job.started_at + lead
