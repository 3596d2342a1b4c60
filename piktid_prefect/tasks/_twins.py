"""Tasks declared once; their async twins generated from the declaration.

``@declared_task(...)`` is Prefect's ``@task`` that also remembers its options, so that
:func:`async_twin` builds the ``a*`` task with the same name, caching, retries and
parameters, whose body runs the sync body off the event loop. Adding a task means
writing it once in :mod:`piktid_prefect.tasks` and one line in
:mod:`piktid_prefect.tasks.async_steps`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from prefect import Task, task

__all__ = ["async_twin", "declared_task"]

P = ParamSpec("P")
R = TypeVar("R")

_OPTIONS: dict[Callable[..., Any], dict[str, Any]] = {}


def declared_task(**options: Any) -> Callable[[Callable[P, R]], Task[P, R]]:
    """``@task(**options)``, remembering the options for :func:`async_twin`."""

    def declare(fn: Callable[P, R]) -> Task[P, R]:
        _OPTIONS[fn] = options
        return task(**options)(fn)

    return declare


def async_twin(
    sync_task: Task[P, R],
    body: Callable[P, Coroutine[Any, Any, R]] | None = None,
) -> Task[P, Coroutine[Any, Any, R]]:
    """The ``a``-prefixed async task of ``sync_task``: same options and parameters.

    Args:
        sync_task: A task made with :func:`declared_task`.
        body: An async body to use instead of running the sync one in a thread (e.g.
            awaiting a future rather than holding a thread while waiting).
    """
    sync_fn = sync_task.fn

    async def run_in_thread(*args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(sync_fn, *args, **kwargs)

    twin = body or run_in_thread
    functools.update_wrapper(twin, sync_fn)  # signature (parameter schema) and docstring
    twin.__name__ = twin.__qualname__ = f"a{sync_fn.__name__}"
    twin.__doc__ = f"Async twin of :func:`{sync_fn.__module__}.{sync_fn.__name__}`.\n\n" + (
        sync_fn.__doc__ or ""
    )
    return task(**_OPTIONS[sync_fn])(twin)
