"""The per-person stagger: follow-up generations start a while after the person's first.

PiktID builds a person's masks on the first ``/edit/generate`` call for that person;
calls made in parallel each build them again and all run slower, so the docs advise
waiting 15 s before the follow-ups. The wait is measured from the moment the first
start was actually sent (not from when the flow submitted it), which is what the API's
warm-up depends on.

A :class:`StaggerGate` per (account, image, person) lives in this process: the first
generation opens it when it starts; follow-ups wait for it to open, then for the
stagger. If the first never starts here (its output was cached, or it runs in another
worker process), the gate is opened by the flow when the first finishes, and a
follow-up never waits longer than ``max_wait_seconds``.
"""

from __future__ import annotations

import threading
import time

__all__ = ["StaggerGate", "gate_for", "reset_gates"]


class StaggerGate:
    """Opened once with the time the first generation started (epoch seconds)."""

    def __init__(self) -> None:
        self._opened = threading.Event()
        self._started_at = 0.0

    def open(self, started_at: float | None = None) -> None:
        """Record the first start (first call wins); ``None`` means "no stagger needed"."""
        if not self._opened.is_set():
            self._started_at = started_at if started_at is not None else float("-inf")
            self._opened.set()

    def wait(self, stagger_seconds: float, *, max_wait_seconds: float) -> float:
        """Block until ``stagger_seconds`` after the first start; return the seconds waited."""
        began = time.monotonic()
        self._opened.wait(timeout=max_wait_seconds)
        if self._opened.is_set():
            remaining = self._started_at + stagger_seconds - time.time()
            budget = max_wait_seconds - (time.monotonic() - began)
            if remaining > 0 and budget > 0:
                time.sleep(min(remaining, budget))
        return time.monotonic() - began


_gates: dict[str, StaggerGate] = {}
_gates_lock = threading.Lock()


def gate_for(key: str) -> StaggerGate:
    """This process's gate for ``key`` (account, image hash and person)."""
    with _gates_lock:
        return _gates.setdefault(key, StaggerGate())


def reset_gates() -> None:
    """Forget every gate (tests)."""
    with _gates_lock:
        _gates.clear()
