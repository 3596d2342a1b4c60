"""Stop the processes this command started: the temporary Prefect server above all.

Prefect starts its temporary ("ephemeral") server as a child process (uvicorn) and stops
it from an ``atexit`` hook. A process ended by a signal runs no ``atexit`` hook, and the
server is left serving as an orphan. So on a stop signal the command stops its children
itself: SIGTERM to every direct child, SIGKILL to those still alive after a grace period.

Children are listed with POSIX ``ps`` (Linux, macOS, the BSDs); where ``ps`` is missing,
as in slim container images, from Linux's ``/proc``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

__all__ = ["child_pids", "stop_children"]

_POLL_SECONDS = 0.05
_PS_TIMEOUT_SECONDS = 5.0
_KILL_WAIT_SECONDS = 2.0


def child_pids(parent: int | None = None) -> list[int]:
    """Direct children of ``parent`` (default: this process)."""
    parent = os.getpid() if parent is None else parent
    table = _ps_table()
    if table is None:
        table = _proc_table()
    return sorted(pid for pid, ppid in table if ppid == parent)


def _ps_table() -> list[tuple[int, int]] | None:
    """(pid, parent pid) of every other process, from ``ps -A -o pid=,ppid=``; None without ps."""
    try:
        process = subprocess.Popen(
            ["ps", "-A", "-o", "pid=,ppid="],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
    except OSError:
        return None
    try:
        out, _ = process.communicate(timeout=_PS_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return None
    if process.returncode != 0:
        return None
    rows = (line.split() for line in out.splitlines())
    table = [(int(row[0]), int(row[1])) for row in rows if len(row) == 2 and row[0].isdigit()]
    return [(pid, ppid) for pid, ppid in table if pid != process.pid]  # not `ps` itself


def _proc_table() -> list[tuple[int, int]]:
    """(pid, parent pid) of every process, from Linux's ``/proc``; empty where there is none."""
    table: list[tuple[int, int]] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return table
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1:
            table.append((int(entry.name), int(fields[1])))
    return table


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
    # SIGKILL is delivered asynchronously: reap what it ended (bounded; it cannot be caught).
    deadline = time.monotonic() + _KILL_WAIT_SECONDS
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if _alive(pid)]
        if pids:
            time.sleep(_POLL_SECONDS)


def _alive(pid: int) -> bool:
    """Reap ``pid`` if it has exited; True while it runs."""
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == 0
