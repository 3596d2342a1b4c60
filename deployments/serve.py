"""Serve the PiktID deployments from this process: no work pool, no worker.

Run it from the project root (``python deployments/serve.py --help``); it keeps running,
executes scheduled and on-demand runs itself, and stops with Ctrl-C::

    python deployments/serve.py --inbox piktid-inbox --out piktid-output \\
        --credentials piktid --location Oceania --background nature_landscapes=Beach

The scheduled deployment processes the inbox every ``--interval-seconds``; the on-demand
ones run with ``prefect deployment run piktid-batch-variations/piktid-batch-served ...``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

from piktid_prefect.flows import batch_variations, generate_people
from piktid_prefect.inbox import process_new_images
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
        default=None,
        help="global concurrency limit capping the account's in-flight generations",
    )
    return parser


def deployments(args: argparse.Namespace) -> list[Any]:
    """The served deployments; keywords are checked here, before anything is served."""
    person = [validate_person_keyword({"Location": loc}) for loc in args.location]
    background = [validate_background_keyword(parse_keyword_text(b)) for b in args.background]
    if not person and not background:
        raise SystemExit("Give at least one --location or --background")
    account = {"credentials": args.credentials, "concurrency_limit": args.concurrency_limit}
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
            # Two overlapping passes would see the same new images: skip the newer one.
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


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and serve until interrupted."""
    serve(*deployments(_parser().parse_args(argv)))


if __name__ == "__main__":
    main()
