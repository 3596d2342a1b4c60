"""Stop the processes this command started: the temporary Prefect server above all.

Prefect starts its temporary ("ephemeral") server as a child process (uvicorn) and stops
it from an ``atexit`` hook. A process ended by a signal runs no ``atexit`` hook, and the
server is left serving as an orphan. So on a stop signal the command stops its children
itself: SIGTERM to every direct child, SIGKILL to those still alive after a grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

__all__ = ["child_pids", "stop_children"]

_POLL_SECONDS = 0.05


def child_pids(parent: int | None = None) -> list[int]:
    """Direct children of ``parent`` (default: this process), from ``/proc``."""
    parent = os.getpid() if parent is None else parent
    pids: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return pids
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and int(fields[1]) == parent:
            pids.append(int(entry.name))
    return pids


def stop_children(grace_seconds: float = 3.0) -> None:
    """SIGTERM every direct child, SIGKILL those alive after ``grace_seconds``; reap them."""
    pids = child_pids()
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if _alive(pid)]
        if pids:
            time.sleep(_POLL_SECONDS)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        _alive(pid)


def _alive(pid: int) -> bool:
    """Reap ``pid`` if it has exited; True while it runs."""
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == 0
