"""``piktid-prefect automations install``: the ready automations, on the current Prefect API."""

from __future__ import annotations

from typing import Annotated

import typer

from piktid_prefect.cli._errors import fail, first_line

__all__ = ["app"]

app = typer.Typer(
    help="Ready Prefect automations on the package's events.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command("install")
def install(
    pause_deployment: Annotated[
        str | None,
        typer.Option(
            help="flow/deployment to pause when a run reports credits low, e.g. "
            "piktid-process-new-images/piktid-inbox."
        ),
    ] = None,
    notify_block: Annotated[
        str | None,
        typer.Option(
            help="block-type-slug/name of a notification block to tell of runs with failed "
            "outputs, e.g. slack-webhook/ops."
        ),
    ] = None,
) -> None:
    """Create (or update) the automations on PREFECT_API_URL's server."""
    if not (pause_deployment or notify_block):
        fail("give --pause-deployment, --notify-block, or both")
    from piktid_prefect.automations import install_automations

    try:
        installed = install_automations(
            pause_deployment=pause_deployment, notify_block=notify_block
        )
    except (LookupError, ValueError) as exc:
        fail(first_line(exc))
    for automation in installed:
        typer.echo(f"installed: {automation.name} ({automation.id})")
