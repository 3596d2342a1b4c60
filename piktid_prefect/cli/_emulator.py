"""``piktid-prefect emulator`` (and ``python -m piktid_prefect.emulator``): serve the emulator."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from piktid_prefect.cli._credits import DemoCredits
from piktid_prefect.cli._errors import console, fail

__all__ = ["emulator", "emulator_module"]


def emulator(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    time_scale: Annotated[
        float,
        typer.Option(min=0.0, help="Real seconds per API second (0.1 = ten times faster)."),
    ] = 1.0,
    seed: Annotated[
        int | None,
        typer.Option(help="Seed of the server's own choices (seeds, ids): same seed, same run."),
    ] = None,
    demo_credits: DemoCredits = 10,
) -> None:
    """Serve the local PiktID emulator (demo account: demo@piktid.local / demo-password)."""
    module = emulator_module()
    config = module.EmulatorConfig(time_scale=time_scale, seed=seed, demo_credits=demo_credits)
    console.print(
        f"PiktID emulator on http://{host}:{port}/api — export "
        f"PIKTID_BASE_URL=http://{host}:{port}/api PIKTID_EMAIL=demo@piktid.local "
        "PIKTID_PASSWORD=demo-password"
    )
    module.serve(host=host, port=port, config=config)


def emulator_module() -> Any:
    """``piktid_prefect.emulator``, or exit 2 naming the extra it needs."""
    try:
        import piktid_prefect.emulator as module
    except ImportError as exc:  # the [emulator] extra is missing
        fail(f"the emulator needs the extra: pip install 'piktid-prefect[emulator]' ({exc})")
    return module
