"""The command line's chain: ``--upscale 2`` and ``--identity NAME`` after each variation,
and ``create-identity FACE NAME`` to save the identity first (issue 24)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["IdentityName", "Upscale", "chain_steps", "create_identity"]

Upscale = Annotated[
    int | None,
    typer.Option(
        "--upscale", help="Upscale each variation x2 or x4 (SuperID, fractional credits)."
    ),
]
IdentityName = Annotated[
    str | None,
    typer.Option(
        "--identity", help="Put this saved identity's face on each variation (after --upscale)."
    ),
]


def chain_steps(upscale: int | None, identity: str | None) -> list[dict[str, Any]]:
    """The flows' ``then``: the upscale first, then the identity swap (both optional)."""
    from piktid_prefect.cli._errors import fail

    steps: list[dict[str, Any]] = []
    if upscale is not None:
        if upscale not in (2, 4):
            fail(f"--upscale takes 2 or 4, not {upscale}")
        steps.append({"step": "upscale", "scale_factor": upscale})
    if identity is not None:
        if not identity.strip():
            fail("--identity needs a name (create one with `piktid-prefect create-identity`)")
        steps.append({"step": "identity", "identity_name": identity})
    return steps


def create_identity(
    face: Annotated[Path, typer.Argument(help="A photo of the face (PNG, JPEG or WEBP).")],
    name: Annotated[str, typer.Argument(help="The identity's name, for --identity.")],
    credentials_block: Annotated[
        str | None,
        typer.Option("--credentials-block", help="A saved PiktidCredentials block's name."),
    ] = None,
) -> None:
    """Save FACE as the identity NAME (free; a second call with the same photo is cached)."""
    from piktid_prefect import cli
    from piktid_prefect.cli._environment import prepare_prefect_environment
    from piktid_prefect.cli._errors import console

    source = cli._check_image(face)
    cli._check_credentials(credentials_block)
    prepare_prefect_environment(verbose=False)
    creds = cli._credentials(credentials_block)

    def call() -> str:
        from prefect import flow

        from piktid_prefect.tasks import create_identity as task

        return flow(name="piktid-create-identity")(lambda: task(creds, source, name))()

    saved = cli._run(call, credentials=creds, verbose=False)
    console.print(f"identity saved: {saved}", highlight=False)
