"""A virtual clock: API-seconds that run ``1 / time_scale`` times faster than real time.

Latencies and lifetimes run on the virtual clock; what the emulator hands out on the wire
(notification timestamps, token expirations) is on the real clock, so a client comparing
them with ``time.time()`` sees nothing from the future however fast the clock runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["VirtualClock"]


class VirtualClock:
    """Monotonic API time, scalable and advanceable.

    ``now()`` starts at 0 and grows by ``real_elapsed / time_scale`` plus every
    ``advance()``; ``wall_clock()`` maps an API instant onto real epoch seconds.

    Args:
        time_scale: Real seconds per API-second.
    """

    def __init__(self, time_scale: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._time_scale = time_scale
        self._real_origin = time.monotonic()
        self._api_origin = 0.0
        self._listeners: list[Callable[[], None]] = []

    @property
    def time_scale(self) -> float:
        """Real seconds per API-second."""
        return self._time_scale

    def now(self) -> float:
        """API-seconds since the clock started (including advances)."""
        with self._lock:
            return self._api_origin + (time.monotonic() - self._real_origin) / self._time_scale

    def wall_clock(self, api_time: float | None = None) -> float:
        """Real epoch seconds when the clock reaches ``api_time`` (default: now).

        A future instant is projected at the current pace: the real moment it comes
        unless :meth:`advance` brings it sooner. An instant already reached maps to now.
        """
        ahead = 0.0 if api_time is None else api_time - self.now()
        return time.time() + self.real_seconds(ahead)

    def real_seconds(self, api_seconds: float) -> float:
        """How many real seconds ``api_seconds`` take."""
        return max(0.0, api_seconds) * self._time_scale

    def advance(self, api_seconds: float) -> None:
        """Jump forward by ``api_seconds`` and wake whoever waits on the clock."""
        if api_seconds < 0:
            raise ValueError("The clock only goes forward")
        with self._lock:
            self._api_origin += api_seconds
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def on_advance(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every ``advance()`` (e.g. to wake a scheduler)."""
        with self._lock:
            self._listeners.append(listener)
