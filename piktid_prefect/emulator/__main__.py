"""``python -m piktid_prefect.emulator [OPTIONS]``: the same as ``piktid-prefect emulator``."""

from __future__ import annotations

import typer

from piktid_prefect.cli._emulator import emulator

if __name__ == "__main__":
    command = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    command.command()(emulator)
    command(prog_name="python -m piktid_prefect.emulator")
