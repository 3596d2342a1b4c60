"""The one store of per-process state: shared clients, pollers, in-flight slots, gates.

Everything a process shares between its task threads lives here, under one lock, keyed
by ``(kind, key)``. The store belongs to the process that filled it: a forked worker
(Dask, a process pool) starts empty instead of inheriting clients and polling threads
that do not exist in the child.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

__all__ = ["entries", "shared"]

T = TypeVar("T")

_lock = threading.Lock()
_owner_pid = os.getpid()
_state: dict[tuple[str, Hashable], Any] = {}


def shared(kind: str, key: Hashable, factory: Callable[[], T]) -> T:
    """This process's ``kind`` object for ``key``, made by ``factory`` on first use."""
    global _owner_pid
    with _lock:
        if os.getpid() != _owner_pid:
            _state.clear()
            _owner_pid = os.getpid()
        entry = _state.get((kind, key))
        if entry is None:
            entry = _state[(kind, key)] = factory()
        return cast(T, entry)


def entries(kind: str) -> list[tuple[Hashable, Any]]:
    """``(key, object)`` of every ``kind`` object this process made."""
    with _lock:
        if os.getpid() != _owner_pid:
            return []
        return [(key, value) for (k, key), value in _state.items() if k == kind]


@atexit.register
def _close_all() -> None:
    for _, value in entries("client") + entries("hub"):
        with contextlib.suppress(Exception):
            value.close()
