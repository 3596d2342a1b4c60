"""Reading the emulator's counters in Prefect-layer tests."""

from __future__ import annotations

from typing import Any


def requests_to(stats: Any, path: str) -> int:
    """Requests whose ``METHOD /path`` ends with ``path`` (e.g. ``/edit/target``)."""
    return sum(count for endpoint, count in stats.requests.items() if endpoint.endswith(path))


def started(stats: Any) -> int:
    """Generations started (each one charged a credit)."""
    return sum(stats.generations_started.values())
