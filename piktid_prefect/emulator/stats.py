"""What the emulator saw, for tests and benchmarks: a thread-safe recorder and its snapshots."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

__all__ = ["EmulatorStats", "GenerationKey", "GenerationRecord", "StatsRecorder"]


class GenerationKey(NamedTuple):
    """The identity of a generation: starting the same one twice pays twice.

    ``seed`` is the seed as sent (None when the server picked one). ``kind`` is person,
    background, upscale or identity_swap; for the last two ``keyword`` holds what else
    tells two starts apart, as JSON (scale factor and fast mode; the identity's name), and
    an identity swap's ``person_id`` is the face replaced.
    """

    kind: str
    image_id: str
    person_id: int | None
    keyword: str | None
    prompt: str
    seed: int | None


@dataclass(frozen=True)
class GenerationRecord:
    """One started generation and how it ended (times on the virtual clock)."""

    id: int
    email: str
    key: GenerationKey
    seed: int
    started_at: float
    due_at: float
    warmup_paid: bool
    completed_at: float | None = None
    outcome: str = "pending"  # pending | notified | error | lost
    # When a poll first returned the result's notification: the client knows from then.
    seen_at: float | None = None
    # The options as they arrived (known ones validated, unknown ones as sent).
    options: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class EmulatorStats:
    """A snapshot of the emulator's counters (all accounts, or one)."""

    credits_charged: float = 0
    credits_charged_by_account: dict[str, float] = field(default_factory=dict)
    # By start endpoint: {"/edit/generate": 2, "/superid/v2": 0.25, ...}.
    credits_charged_by_endpoint: dict[str, float] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    requests_by_account: dict[str, dict[str, int]] = field(default_factory=dict)
    generations_started: dict[GenerationKey, int] = field(default_factory=dict)
    duplicates: list[GenerationKey] = field(default_factory=list)
    generations: list[GenerationRecord] = field(default_factory=list)
    notifications_created: int = 0
    notifications_deleted: int = 0
    notifications_expired: int = 0
    rate_limited_polls: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    # Options the emulator does not type, by endpoint: {"/edit/generate": {"ip_scale": 2}}.
    unknown_options: dict[str, dict[str, int]] = field(default_factory=dict)


class StatsRecorder:
    """Counts events by account; ``snapshot(email)`` filters to one account."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._charged: defaultdict[tuple[str, str], float] = defaultdict(float)
        self._requests: Counter[tuple[str | None, str]] = Counter()
        self._generations: dict[int, GenerationRecord] = {}
        self._notifications: Counter[tuple[str, str]] = Counter()
        self._rate_limited: Counter[str] = Counter()
        self._faults: Counter[tuple[str | None, str]] = Counter()
        self._unknown_options: Counter[tuple[str, str, str]] = Counter()

    def request(self, email: str | None, endpoint: str) -> None:
        """Count one request to ``endpoint`` (``METHOD /path``)."""
        with self._lock:
            self._requests[(email, endpoint)] += 1

    def charged(self, email: str, amount: float = 1, endpoint: str = "") -> None:
        """Count credits taken from ``email`` by a start at ``endpoint``."""
        with self._lock:
            self._charged[(email, endpoint)] += amount

    def generation(self, record: GenerationRecord) -> None:
        """Record a started generation, or update it when it ends."""
        with self._lock:
            self._generations[record.id] = record

    def finish(self, generation_id: int, completed_at: float, outcome: str) -> None:
        """Mark a generation as ended."""
        with self._lock:
            record = self._generations[generation_id]
            self._generations[generation_id] = replace(
                record, completed_at=completed_at, outcome=outcome
            )

    def seen(self, generation_ids: list[int], at: float) -> None:
        """Mark generations whose notification a poll returned (first time only)."""
        with self._lock:
            for generation_id in generation_ids:
                record = self._generations.get(generation_id)
                if record is not None and record.seen_at is None:
                    self._generations[generation_id] = replace(record, seen_at=at)

    def notification(self, email: str, event: str, count: int = 1) -> None:
        """Count notifications ``created``, ``deleted`` or ``expired``."""
        with self._lock:
            self._notifications[(email, event)] += count

    def rate_limited(self, email: str) -> None:
        """Count one poll answered 429."""
        with self._lock:
            self._rate_limited[email] += 1

    def fault(self, email: str | None, kind: str) -> None:
        """Count one injected fault."""
        with self._lock:
            self._faults[(email, kind)] += 1

    def unknown_options(self, email: str, endpoint: str, names: list[str]) -> None:
        """Count options of a request to ``endpoint`` that the emulator does not type."""
        with self._lock:
            for name in names:
                self._unknown_options[(email, endpoint, name)] += 1

    def snapshot(self, email: str | None = None) -> EmulatorStats:
        """The counters so far, for every account or only ``email``."""

        def mine(owner: str | None) -> bool:
            return email is None or owner == email

        with self._lock:
            requests: Counter[str] = Counter()
            by_account: dict[str, Counter[str]] = {}
            for (owner, endpoint), count in self._requests.items():
                if mine(owner):
                    requests[endpoint] += count
                    if owner is not None:
                        by_account.setdefault(owner, Counter())[endpoint] += count
            generations = sorted(
                (g for g in self._generations.values() if mine(g.email)), key=lambda g: g.id
            )
            started = Counter(g.key for g in generations)
            faults: Counter[str] = Counter()
            for (owner, kind), count in self._faults.items():
                if mine(owner):
                    faults[kind] += count
            charged: defaultdict[str, float] = defaultdict(float)
            charged_at: defaultdict[str, float] = defaultdict(float)
            for (owner, endpoint), amount in self._charged.items():
                if mine(owner):
                    charged[owner] += amount
                    charged_at[endpoint] += amount
            unknown: dict[str, Counter[str]] = {}
            for (owner, endpoint, name), count in self._unknown_options.items():
                if mine(owner):
                    unknown.setdefault(endpoint, Counter())[name] += count

            def notes(event: str) -> int:
                return sum(c for (o, e), c in self._notifications.items() if e == event and mine(o))

            return EmulatorStats(
                credits_charged=_whole(sum(charged.values())),
                credits_charged_by_account={k: _whole(v) for k, v in charged.items()},
                credits_charged_by_endpoint={k: _whole(v) for k, v in charged_at.items()},
                requests=dict(requests),
                requests_by_account={k: dict(v) for k, v in by_account.items()},
                generations_started=dict(started),
                duplicates=[key for key, count in started.items() if count > 1],
                generations=generations,
                notifications_created=notes("created"),
                notifications_deleted=notes("deleted"),
                notifications_expired=notes("expired"),
                rate_limited_polls=sum(c for o, c in self._rate_limited.items() if mine(o)),
                faults=dict(faults),
                unknown_options={k: dict(v) for k, v in unknown.items()},
            )


def _whole(value: float) -> float:
    """A sum of charges as an int when whole (as it always was), else rounded as the
    account's balance is (no 0.30000000000000004)."""
    rounded = round(float(value), 6)
    return int(rounded) if rounded.is_integer() else rounded
