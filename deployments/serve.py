"""Serve the PiktID deployments from this process: no work pool, no worker.

Run it from the project root (``python deployments/serve.py --help``); it keeps running,
executes scheduled and on-demand runs itself, and stops with Ctrl-C or SIGTERM (systemd,
Docker, Kubernetes), pausing its deployments' schedules::

    python deployments/serve.py --inbox piktid-inbox --out piktid-output \\
        --credentials piktid --location Oceania --background nature_landscapes=Beach

The scheduled deployment processes the inbox every ``--interval-seconds``; the on-demand
ones run with ``prefect deployment run piktid-batch-variations/piktid-batch-served ...``.
Every run is capped by the global concurrency limit ``piktid-account`` (as in
``prefect.yaml``); create it with ``prefect gcl create piktid-account --limit 4``, or pass
``--concurrency-limit ''`` for no cap.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.runner import Runner

from piktid_prefect.execution.account_limit import DEFAULT_ACCOUNT_LIMIT
from piktid_prefect.flows import batch_variations, generate_people
from piktid_prefect.flows.inbox import process_new_images
from piktid_prefect.wire.keywords import (
    parse_keyword_text,
    validate_background_keyword,
    validate_person_keyword,
)

DEFAULT_INTERVAL_SECONDS = 900.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inbox", default="piktid-inbox", help="folder of new images")
    parser.add_argument("--out", default="piktid-output", help="output folder")
    parser.add_argument("--credentials", default="piktid", help="PiktidCredentials block name")
    parser.add_argument(
        "--location", action="append", default=[], help="person Location keyword (repeat)"
    )
    parser.add_argument("--background", action="append", default=[], help="category=value (repeat)")
    parser.add_argument("--interval-seconds", type=float, default=DEFAULT_INTERVAL_SECONDS)
    parser.add_argument(
        "--concurrency-limit",
        default=DEFAULT_ACCOUNT_LIMIT,
        help="global concurrency limit capping the account's in-flight generations"
        f" (default {DEFAULT_ACCOUNT_LIMIT}; '' for none)",
    )
    return parser


def deployments(args: argparse.Namespace) -> list[Any]:
    """The served deployments; keywords are checked here, before anything is served."""
    person = [validate_person_keyword({"Location": loc}) for loc in args.location]
    background = [validate_background_keyword(parse_keyword_text(b)) for b in args.background]
    if not person and not background:
        raise SystemExit("Give at least one --location or --background")
    account = {"credentials": args.credentials, "concurrency_limit": args.concurrency_limit or None}
    return [
        process_new_images.to_deployment(
            name="piktid-inbox-served",
            interval=timedelta(seconds=args.interval_seconds),
            parameters={
                **account,
                "inbox": args.inbox,
                "out_dir": args.out,
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
            name="piktid-batch-served", parameters={**account, "out_dir": args.out}, tags=["piktid"]
        ),
        generate_people.to_deployment(
            name="piktid-people-served",
            parameters={**account, "out_dir": args.out},
            tags=["piktid"],
        ),
    ]


class StoppingRunner(Runner):
    """Prefect's runner, made to stop on SIGTERM.

    Prefect 3.8.8's own SIGTERM handler calls the sync ``Runner.stop()`` from inside the
    running event loop, where it only returns a coroutine (``coroutine 'Runner.astop' was
    never awaited``): the process logs "graceful shutdown", pauses nothing and keeps
    running until SIGKILL. This handler schedules ``astop()`` on the loop instead; the
    runner then cancels its runs, pauses its deployments' schedules and returns.
    """

    _stopping_task: asyncio.Task[None] | None = None

    def handle_sigterm(self, *args: Any, **kwargs: Any) -> None:
        if self._stopping_task is not None:
            return
        self._logger.info("SIGTERM received, stopping the served deployments...")
        loop = asyncio.get_running_loop()
        # A signal handler runs between two bytecodes of the loop's own thread: start the
        # stop as a task, and wake the loop's selector so it runs now.
        self._stopping_task = loop.create_task(self.astop())
        loop.call_soon_threadsafe(lambda: None)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and serve until Ctrl-C or SIGTERM."""
    served = deployments(_parser().parse_args(argv))
    runner = StoppingRunner(pause_on_shutdown=True)
    for deployment in served:
        runner.add_deployment(deployment)
    names = ", ".join(d.full_name for d in served)
    print(f"Serving {names}. Stop with Ctrl-C or SIGTERM.", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(runner.start())
    print("Stopped; the served deployments are paused.", flush=True)


if __name__ == "__main__":
    main()
