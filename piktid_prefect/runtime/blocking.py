"""Call Prefect's public async APIs from sync code, in any context.

Prefect's dual methods (``Block.load``, ``read_path``, ``ResultStore.update_for_task``)
choose sync or async from the *calling* context: inside an async flow or task they
return a coroutine, even when called from a worker thread of sync code. The private
``_sync=True`` switch that forces the sync path may change in any minor release. The
public ``a*`` twins are stable, so sync code here runs them to completion on a
short-lived thread of its own, whose event loop is free whatever the caller's is.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

__all__ = ["run_async"]

P = ParamSpec("P")
T = TypeVar("T")


def run_async(function: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
    """``function(*args, **kwargs)`` awaited on a fresh event loop in a helper thread."""

    async def call() -> T:
        return await function(*args, **kwargs)

    # The caller's context (Prefect's settings and run context are context variables)
    # goes along: a new thread would otherwise start with none.
    context = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="piktid-async-call") as pool:
        return pool.submit(context.run, asyncio.run, call()).result()
