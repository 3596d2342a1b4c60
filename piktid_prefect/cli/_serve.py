"""``piktid-prefect serve``: serve the ready deployments from this process, no work pool.

It keeps running, executes scheduled and on-demand runs itself, and stops with Ctrl-C or
SIGTERM (systemd, Docker, Kubernetes), pausing its deployments' schedules::

    piktid-prefect serve --inbox piktid-inbox --out piktid-output --credentials-block piktid \\
        --location Oceania --background nature_landscapes=Beach

The scheduled deployment processes the inbox every ``--interval-seconds``; the on-demand
ones run with ``prefect deployment run piktid-batch-variations/piktid-batch-served ...``.
Every run is capped by the global concurrency limit ``piktid-account`` (as in
``deployments/prefect.yaml``); create it with ``prefect gcl create piktid-account --limit 4``,
or pass ``--concurrency-limit ''`` for no cap.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from piktid_prefect.cli._errors import fail, first_line
from piktid_prefect.execution.account_limit import DEFAULT_ACCOUNT_LIMIT
from piktid_prefect.wire.errors import InvalidInput
from piktid_prefect.wire.keywords import (
    parse_keyword_text,
    validate_background_keyword,
    validate_person_keyword,
)

if TYPE_CHECKING:
    from prefect.runner import Runner

__all__ = ["DEFAULT_INTERVAL_SECONDS", "serve", "served_deployments"]

DEFAULT_INTERVAL_SECONDS = 900.0


def served_deployments(
    *,
    inbox: str = "piktid-inbox",
    out: str = "piktid-output",
    credentials: str = "piktid",
    locations: list[str] | None = None,
    backgrounds: list[str] | None = None,
    interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
    concurrency_limit: str | None = DEFAULT_ACCOUNT_LIMIT,
) -> list[Any]:
    """The served deployments; keywords are checked here, before anything is served.

    Raises:
        InvalidInput: an unknown keyword, or neither a location nor a background.
    """
    person = [validate_person_keyword({"Location": loc}) for loc in locations or []]
    background = [validate_background_keyword(parse_keyword_text(b)) for b in backgrounds or []]
    if not person and not background:
        raise InvalidInput("give at least one --location or --background")
    # Only now: importing the flows (and Prefect) takes seconds; a typo exits at once.
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    from piktid_prefect.flows import batch_variations, generate_people
    from piktid_prefect.flows.inbox import process_new_images

    account = {"credentials": credentials, "concurrency_limit": concurrency_limit or None}
    return [
        process_new_images.to_deployment(
            name="piktid-inbox-served",
            interval=timedelta(seconds=interval_seconds),
            parameters={
                **account,
                "inbox": inbox,
                "out_dir": out,
                "person_keywords": person,
                "background_keywords": background,
            },
            # Two overlapping passes would see the same new images: a run picked up while
            # another is running is cancelled.
            concurrency_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
            ),
            tags=["piktid"],
        ),
        batch_variations.to_deployment(
            name="piktid-batch-served", parameters={**account, "out_dir": out}, tags=["piktid"]
        ),
        generate_people.to_deployment(
            name="piktid-people-served", parameters={**account, "out_dir": out}, tags=["piktid"]
        ),
    ]


def serve(
    inbox: Annotated[str, typer.Option(help="Folder of new images.")] = "piktid-inbox",
    out: Annotated[str, typer.Option("--out", "-o", help="Output folder.")] = "piktid-output",
    credentials: Annotated[
        str,
        typer.Option(
            "--credentials-block", "--credentials", help="Name of a saved PiktidCredentials block."
        ),
    ] = "piktid",
    location: Annotated[
        list[str] | None,
        typer.Option("--location", help="Person Location keyword, e.g. Oceania (repeatable)."),
    ] = None,
    background: Annotated[
        list[str] | None,
        typer.Option("--background", help="category=value, e.g. nature_landscapes=Beach."),
    ] = None,
    interval_seconds: Annotated[
        float, typer.Option(min=1.0, help="Seconds between the inbox's scheduled runs.")
    ] = DEFAULT_INTERVAL_SECONDS,
    concurrency_limit: Annotated[
        str,
        typer.Option(
            help="Global concurrency limit capping the account's in-flight generations "
            "('' for none)."
        ),
    ] = DEFAULT_ACCOUNT_LIMIT,
) -> None:
    """Serve the inbox (scheduled), batch and people deployments until Ctrl-C or SIGTERM."""
    try:
        served = served_deployments(
            inbox=inbox,
            out=out,
            credentials=credentials,
            locations=location,
            backgrounds=background,
            interval_seconds=interval_seconds,
            concurrency_limit=concurrency_limit,
        )
    except InvalidInput as exc:
        fail(first_line(exc))
    runner = stopping_runner()
    for deployment in served:
        runner.add_deployment(deployment)
    names = ", ".join(d.full_name for d in served)
    print(f"Serving {names}. Stop with Ctrl-C or SIGTERM.", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(runner.start())
    print("Stopped; the served deployments are paused.", flush=True)


def stopping_runner() -> Runner:
    """Prefect's runner, made to stop on SIGTERM, pausing its deployments' schedules.

    Prefect 3.8.8's own SIGTERM handler calls the sync ``Runner.stop()`` from inside the
    running event loop, where it only returns a coroutine (``coroutine 'Runner.astop' was
    never awaited``): the process logs "graceful shutdown", pauses nothing and keeps
    running until SIGKILL. This handler schedules ``astop()`` on the loop instead; the
    runner then cancels its runs, pauses its deployments' schedules and returns.
    """
    from prefect.runner import Runner

    class StoppingRunner(Runner):
        _stopping_task: asyncio.Task[None] | None = None

        def handle_sigterm(self, *args: Any, **kwargs: Any) -> None:
            if self._stopping_task is not None:
                return
            self._logger.info("SIGTERM received, stopping the served deployments...")
            loop = asyncio.get_running_loop()
            # A signal handler runs between two bytecodes of the loop's own thread: start
            # the stop as a task, and wake the loop's selector so it runs now.
            self._stopping_task = loop.create_task(self.astop())
            loop.call_soon_threadsafe(lambda: None)

    return StoppingRunner(pause_on_shutdown=True)
