"""The path of one output, measured: the package modules a run calls on its way to the start.

A profiler on every thread records each call into ``piktid_prefect`` (the emulator left
out: it is the server) while ``generate_people`` makes one output. The path is the flow's
thread until it submits the output's task, then that task's thread until the start
request (``POST /edit/generate``) is sent; the upload's own task is a path of its own.
A *hop* is a call that enters another module than the one before; a *room* visit is a
hop into another room (``wire``, ``runtime``, ``credentials``, ``tasks``, ``artifacts``,
``execution``, ``flows``).
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from dataclasses import dataclass
from types import FrameType
from typing import Any

ROOMS = ("wire", "runtime", "credentials", "tasks", "artifacts", "execution", "flows")
_PACKAGE = "piktid_prefect"
# Entered when the flow hands the output to its task, and when the task sends the start.
_SUBMITS = ("piktid_prefect.execution.fanout", "_submit_next")
_TASK_BODY = ("piktid_prefect.tasks.steps", "generate_output")
_CACHE_KEY = ("piktid_prefect.tasks.steps", "generation_cache_key")
_START = ("piktid_prefect.wire.client", "generate_person")


def room_of(module: str) -> str:
    part = module.split(".")[1] if "." in module else module
    return part if part in ROOMS else "other"


@dataclass(frozen=True)
class OutputPath:
    """The modules entered, in order, with consecutive calls in one module merged.

    ``stack`` is the chain of callers when the start is sent: the flow's thread as it
    submits the output's task, then the task's thread (each module once per stay).
    """

    modules: list[str]
    stack: list[str]

    @property
    def hops(self) -> int:
        return len(self.modules) - 1

    @property
    def revisits(self) -> int:
        """Hops that land on a module already on the path."""
        return len(self.modules) - len(set(self.modules))

    def room_visits(self) -> Counter[str]:
        rooms = [room_of(m) for m in self.modules]
        entered = [r for i, r in enumerate(rooms) if i == 0 or rooms[i - 1] != r]
        return Counter(entered)


def _ours(module: str) -> bool:
    return module.startswith(_PACKAGE) and not module.startswith(f"{_PACKAGE}.emulator")


def _merged(modules: list[str]) -> list[str]:
    return [m for i, m in enumerate(modules) if i == 0 or modules[i - 1] != m]


def _callers(frame: FrameType | None) -> list[str]:
    """The package modules on ``frame``'s stack, outermost first."""
    found: list[str] = []
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if _ours(module):
            found.append(module)
        frame = frame.f_back
    return _merged(found[::-1])


class _Recorder:
    def __init__(self) -> None:
        self.calls: dict[int, list[tuple[str, str]]] = {}
        self.stacks: dict[tuple[str, str], list[str]] = {}
        self.lock = threading.Lock()

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        module = frame.f_globals.get("__name__", "")
        if not _ours(module):
            return
        call = (module, frame.f_code.co_name)
        with self.lock:
            self.calls.setdefault(threading.get_ident(), []).append(call)
            if call in (_SUBMITS, _START) and call not in self.stacks:
                self.stacks[call] = _callers(frame)


def record(run: Any) -> OutputPath:
    """Run ``run()`` (one output of ``generate_people``) under the profiler; its path."""
    recorder = _Recorder()
    threading.setprofile(recorder)
    sys.setprofile(recorder)
    try:
        run()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]
    flow_calls = recorder.calls[threading.get_ident()]
    task_calls = next(c for c in recorder.calls.values() if _START in c)
    # The task's thread may have run the upload before: the output's part begins with the
    # cache key Prefect computes for generate_output, just before its body.
    body = task_calls.index(_TASK_BODY)
    keys = [i for i, call in enumerate(task_calls[:body]) if call == _CACHE_KEY]
    task_part = task_calls[keys[-1] if keys else body : task_calls.index(_START) + 1]
    on_path = flow_calls[: flow_calls.index(_SUBMITS) + 1] + task_part
    stack = _merged(recorder.stacks[_SUBMITS] + recorder.stacks[_START])
    return OutputPath(_merged([m for m, _ in on_path]), stack)
