"""The ``piktid-prefect`` command: run the flows from a shell, start the emulator, or the demo.

Input is checked before Prefect is even imported (with the functions the flows run,
:mod:`piktid_prefect.execution.inputs`): a typo exits with status 2 and one line naming it, in well
under a second. A run in which some outputs failed exits with status 1 after writing the
ones that succeeded. SIGTERM and SIGINT stop a run within seconds (status 143 / 130),
leaving no child process behind (see :mod:`piktid_prefect.cli._supervisor`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from piktid_prefect.cli import _credits as cli_credits
from piktid_prefect.cli._automations import app as automations_app
from piktid_prefect.cli._chain import IdentityName, Upscale, chain_steps, create_identity
from piktid_prefect.cli._credits import AllowPartial, LowCredits, MaxCredits
from piktid_prefect.cli._emulator import emulator, emulator_module
from piktid_prefect.cli._environment import prepare_prefect_environment
from piktid_prefect.cli._errors import console, fail, first_line, report_error
from piktid_prefect.cli._serve import serve
from piktid_prefect.execution import inputs, specs
from piktid_prefect.execution.settings import (
    DEFAULT_STAGGER_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    RunSettings,
)
from piktid_prefect.wire.errors import InvalidInput
from piktid_prefect.wire.images import check_base_url
from piktid_prefect.wire.keywords import parse_keyword_text

__all__ = ["app", "main"]

app = typer.Typer(
    name="piktid-prefect",
    help="PiktID person and background variations as Prefect flows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Out = Annotated[Path, typer.Option("--out", "-o", help="Output folder (images + manifest.json).")]
Block = Annotated[
    str | None,
    typer.Option(
        "--credentials-block",
        help="Name of a saved PiktidCredentials block (default: PIKTID_* environment).",
    ),
]
Seed = Annotated[int | None, typer.Option("--seed", help="Seed for every output.")]
Timeout = Annotated[
    float, typer.Option("--timeout", help="Seconds to wait for each output's notification.")
]
Verbose = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="Prefect's log lines and full tracebacks on stderr."),
]


def _checked(check: Callable[[], Any]) -> Any:
    """Run an input check; bad input exits 2 with its one-line message."""
    try:
        return check()
    except InvalidInput as exc:
        fail(first_line(exc))


def _check_credentials(block: str | None) -> None:
    """Refuse missing PIKTID_* credentials before Prefect starts (a block is checked later)."""
    if block:
        return
    env = os.environ
    if not (
        env.get("PIKTID_ACCESS_TOKEN") or (env.get("PIKTID_EMAIL") and env.get("PIKTID_PASSWORD"))
    ):
        fail(
            "no usable PiktID credentials: set PIKTID_ACCESS_TOKEN (or PIKTID_EMAIL and "
            "PIKTID_PASSWORD), optionally PIKTID_BASE_URL, or pass --credentials-block"
        )
    if env.get("PIKTID_BASE_URL"):
        _checked(lambda: check_base_url(env["PIKTID_BASE_URL"]))


def _credentials(block: str | None) -> Any:
    from piktid_prefect.credentials import PiktidCredentials

    if block:
        return block
    try:
        return PiktidCredentials.from_env()
    except Exception as exc:
        fail(f"no usable PiktID credentials ({first_line(exc)})")


def _settings(
    out: Path, timeout: float, max_credits: int | None, allow_partial: bool, low: float | None
) -> dict[str, Any]:
    """The run settings the commands share, under the flows' parameter names."""
    settings = RunSettings(
        out_dir=str(out),
        timeout_seconds=timeout,
        max_credits=max_credits,
        allow_partial=allow_partial,
        low_credits_threshold=low,
    )
    return settings.model_dump(include=set(settings.model_fields_set))


def _run_flow(
    name: str,
    parameters: dict[str, Any],
    image: Path,
    out: Path,
    credentials_block: str | None,
    verbose: bool,
) -> None:
    """Check the image and credentials, then start Prefect, run the flow, print its summary.

    Everything that can be refused without Prefect is refused before it is imported.
    """
    source = _check_image(image)
    _check_credentials(credentials_block)
    prepare_prefect_environment(verbose=verbose)
    creds = _credentials(credentials_block)

    def call() -> Any:
        from piktid_prefect import flows

        return getattr(flows, name)(image=source, credentials=creds, **parameters)

    result = _run(call, credentials=creds, verbose=verbose)
    print_summary(result, out)


def _run(
    flow_call: Callable[[], Any], *, credentials: Any, verbose: bool, stop_note: str | None = None
) -> Any:
    """Run a flow under the supervisor, with the progress display; report errors in one line."""
    from piktid_prefect.cli._progress import ProgressReport, reporting
    from piktid_prefect.cli._supervisor import RERUN_COLLECTS, supervise

    mode: Literal["bar", "lines", "silent"] = (
        "silent" if verbose else ("bar" if console.is_terminal else "lines")
    )
    report = ProgressReport(console, mode=mode, balance=_balance(credentials))
    try:
        with reporting(report):
            result = supervise(
                flow_call,
                flow_run_id=lambda: report.flow_run_id,
                announce=lambda line: console.print(line, highlight=False, soft_wrap=True),
                stop_note=stop_note or RERUN_COLLECTS,
            )
    except Exception as exc:
        if mode != "silent" and (report.delivered or report.failed):
            console.print(report.summary, highlight=False)
        report_error(exc, verbose=verbose)
    if mode != "silent":
        console.print(report.summary, highlight=False)
    # Prefect stops its temporary server at exit, after sending the last logs and events.
    return result


def _balance(credentials: Any) -> Callable[[], float | None]:
    from piktid_prefect.cli._progress import balance_reader

    def resolve() -> Any:
        from piktid_prefect.credentials import resolve_credentials

        return resolve_credentials(credentials)

    if credentials is None:  # the demo: its account lives inside the run
        return lambda: None
    return balance_reader(resolve)


def _parse_keywords(texts: list[str]) -> list[dict[str, str]]:
    return _checked(lambda: [parse_keyword_text(text) for text in texts])  # type: ignore[no-any-return]


def _check_image(image: Path) -> str:
    if not image.exists():
        fail(f"image {image} does not exist")
    _checked(lambda: inputs.image_file(image))
    return str(image)


def print_summary(result: Any, out: Path) -> None:
    """A table of the outputs, on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"PiktID outputs in {out}")
    chained = any(record.chain for record in result.outputs)
    for column in ("image", "person", "keyword", "seed", "file") + ("then",) * chained:
        table.add_column(column, overflow="fold")
    for record in result.outputs:
        table.add_row(
            record.image,
            "-" if record.person is None else str(record.person),
            ", ".join(f"{k}={v}" for k, v in record.keyword.items()),
            str(record.seed),
            Path(record.path).name,
            *[", ".join(Path(step.path).name for step in record.chain)] * chained,
        )
    Console().print(table)
    Console().print(f"manifest: {result.manifest_path}")
    cli_credits.print_credits(result)


@app.command("generate-person")
def generate_person(
    image: Annotated[Path, typer.Argument(help="A PNG, JPEG or WEBP image.")],
    out: Out,
    keyword: Annotated[
        list[str] | None,
        typer.Option("--keyword", "-k", help="Location=value, e.g. Location=Oceania (repeatable)."),
    ] = None,
    prompt: Annotated[
        str,
        typer.Option(
            "--prompt", help='Free text describing the new person, e.g. "a woman in a red dress".'
        ),
    ] = "",
    person: Annotated[
        list[int] | None, typer.Option("--person", "-p", help="Person id (repeatable).")
    ] = None,
    stagger: Annotated[
        float, typer.Option("--stagger", help="Seconds between a person's first and next calls.")
    ] = DEFAULT_STAGGER_SECONDS,
    seed: Seed = None,
    credentials_block: Block = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    verbose: Verbose = False,
    max_credits: MaxCredits = None,
    allow_partial: AllowPartial = False,
    low_credits: LowCredits = None,
    upscale: Upscale = None,
    identity: IdentityName = None,
) -> None:
    """Replace persons in IMAGE, once per --keyword Location=... (or once for a --prompt)."""
    parameters = {
        "then": chain_steps(upscale, identity),
        "keywords": _parse_keywords(keyword or []),
        "prompt": prompt,
        "persons": person or "approved",
        "seed": seed,
        "stagger_seconds": stagger,
        **_settings(out, timeout, max_credits, allow_partial, low_credits),
    }
    hint = "give at least one --keyword Location=value or a --prompt"
    _checked(lambda: specs.request_of("person", parameters, hint=hint))
    _run_flow("generate_people", parameters, image, out, credentials_block, verbose)


@app.command("edit-background")
def edit_background(
    image: Annotated[Path, typer.Argument(help="A PNG, JPEG or WEBP image.")],
    out: Out,
    keyword: Annotated[
        list[str] | None,
        typer.Option("--keyword", "-k", help="category=value, e.g. nature_landscapes=Beach."),
    ] = None,
    prompt: Annotated[str, typer.Option("--prompt", help="Free-text background prompt.")] = "",
    relight_strength: Annotated[
        float | None, typer.Option("--relight-strength", help="0 (keep light) .. 1 (relight).")
    ] = None,
    seed: Seed = None,
    credentials_block: Block = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    verbose: Verbose = False,
    max_credits: MaxCredits = None,
    allow_partial: AllowPartial = False,
    low_credits: LowCredits = None,
) -> None:
    """New backgrounds for IMAGE, once per --keyword (or one for --prompt)."""
    parameters = {
        "keywords": _parse_keywords(keyword or []),
        "prompt": prompt,
        "relight_strength": relight_strength,
        "seed": seed,
        **_settings(out, timeout, max_credits, allow_partial, low_credits),
    }
    hint = "give at least one --keyword category=value or a --prompt"
    _checked(
        lambda: inputs.require_work(
            background_keywords=parameters["keywords"], background_prompt=prompt, hint=hint
        )
    )
    _checked(lambda: specs.request_of("background", parameters))
    _run_flow("edit_backgrounds", parameters, image, out, credentials_block, verbose)


app.command("plan")(cli_credits.plan)
app.command("create-identity")(create_identity)


app.command("emulator")(emulator)
app.command("serve")(serve)
app.add_typer(automations_app, name="automations")


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "piktid-output"
    ),
    verbose: Verbose = False,
) -> None:
    """Person and background variations of the bundled photos, on the embedded emulator."""
    emulator_module()
    prepare_prefect_environment(verbose=verbose)
    from piktid_prefect.demo import run_demo

    # The embedded emulator ends with the command: a re-run starts a new one.
    stop_note = "The demo's emulator stops with it; nothing was charged to a PiktID account."
    result, where = _run(
        lambda: run_demo(out), credentials=None, verbose=verbose, stop_note=stop_note
    )
    print_summary(result, out)
    print(where)


def main() -> None:  # pragma: no cover - console entry for `python -m piktid_prefect.cli`
    app()
