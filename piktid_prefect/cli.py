"""The ``piktid-prefect`` command: run the flows from a shell, start the emulator, or the demo.

Bad input exits with status 2 and one line naming the problem; a run in which some
outputs failed exits with status 1 after writing the ones that succeeded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from piktid_prefect import cli_credits
from piktid_prefect.cli_credits import AllowPartial, DemoCredits, LowCredits, MaxCredits
from piktid_prefect.wire.errors import InvalidInput, PiktidError, redact
from piktid_prefect.wire.keywords import parse_keyword_text

app = typer.Typer(
    name="piktid-prefect",
    help="PiktID person and background variations as Prefect flows.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)

Keywords = Annotated[
    list[str],
    typer.Option("--keyword", "-k", help="category=value, e.g. Location=Oceania (repeatable)."),
]
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


def _fail(message: str, code: int = 2) -> NoReturn:
    console.print(f"[bold red]error:[/] {redact(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _credentials(block: str | None) -> Any:
    from piktid_prefect.credentials import PiktidCredentials

    if block:
        return block
    try:
        return PiktidCredentials.from_env()
    except (ValidationError, PiktidError) as exc:
        _fail(
            "no usable PiktID credentials: set PIKTID_ACCESS_TOKEN (or PIKTID_EMAIL and "
            "PIKTID_PASSWORD), optionally PIKTID_BASE_URL, or pass --credentials-block "
            f"({_first_line(exc)})"
        )


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(str(e.get("msg", "")) for e in exc.errors())
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _run(flow_call: Any) -> Any:
    """Run a flow, turning bad input into exit 2 and failed outputs into exit 1."""
    try:
        return flow_call()
    except (InvalidInput, ValidationError) as exc:
        _fail(_first_line(exc), 2)
    except PiktidError as exc:
        _fail(_first_line(exc), 1)


def _parse_keywords(texts: list[str]) -> list[dict[str, str]]:
    try:
        return [parse_keyword_text(text) for text in texts]
    except InvalidInput as exc:
        _fail(str(exc))


def _check_image(image: Path) -> str:
    if not image.is_file():
        _fail(f"image {image} does not exist")
    return str(image)


def print_summary(result: Any, out: Path) -> None:
    """A table of the outputs, on stdout."""
    table = Table(title=f"PiktID outputs in {out}")
    for column in ("image", "person", "keyword", "seed", "file"):
        table.add_column(column, overflow="fold")
    for record in result.outputs:
        table.add_row(
            record.image,
            "-" if record.person is None else str(record.person),
            ", ".join(f"{k}={v}" for k, v in record.keyword.items()),
            str(record.seed),
            Path(record.path).name,
        )
    Console().print(table)
    Console().print(f"manifest: {result.manifest_path}")
    cli_credits.print_credits(result)


@app.command("generate-person")
def generate_person(
    image: Annotated[Path, typer.Argument(help="A PNG, JPEG or WEBP image.")],
    keyword: Keywords,
    out: Out,
    person: Annotated[
        list[int] | None, typer.Option("--person", "-p", help="Person id (repeatable).")
    ] = None,
    stagger: Annotated[
        float, typer.Option("--stagger", help="Seconds between a person's first and next calls.")
    ] = 15.0,
    seed: Seed = None,
    credentials_block: Block = None,
    timeout: Timeout = 600.0,
    max_credits: MaxCredits = None,
    allow_partial: AllowPartial = False,
    low_credits: LowCredits = None,
) -> None:
    """Replace persons in IMAGE, once per --keyword Location=..."""
    from piktid_prefect.flows import generate_people

    keywords = _parse_keywords(keyword)
    source = _check_image(image)
    creds = _credentials(credentials_block)
    result = _run(
        lambda: generate_people(
            image=source,
            keywords=keywords,
            persons=person or "approved",
            credentials=creds,
            out_dir=str(out),
            seed=seed,
            stagger_seconds=stagger,
            timeout_seconds=timeout,
            max_credits=max_credits,
            allow_partial=allow_partial,
            low_credits_threshold=low_credits,
        )
    )
    print_summary(result, out)


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
    timeout: Timeout = 600.0,
    max_credits: MaxCredits = None,
    allow_partial: AllowPartial = False,
    low_credits: LowCredits = None,
) -> None:
    """New backgrounds for IMAGE, once per --keyword (or one for --prompt)."""
    from piktid_prefect.flows import edit_backgrounds

    keywords = _parse_keywords(keyword or [])
    if not keywords and not prompt:
        _fail("give at least one --keyword category=value or a --prompt")
    source = _check_image(image)
    creds = _credentials(credentials_block)
    result = _run(
        lambda: edit_backgrounds(
            image=source,
            keywords=keywords,
            prompt=prompt,
            relight_strength=relight_strength,
            seed=seed,
            credentials=creds,
            out_dir=str(out),
            timeout_seconds=timeout,
            max_credits=max_credits,
            allow_partial=allow_partial,
            low_credits_threshold=low_credits,
        )
    )
    print_summary(result, out)


app.command("plan")(cli_credits.plan)


@app.command("emulator")
def emulator(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    time_scale: Annotated[
        float, typer.Option(help="Real seconds per API second (0.1 = ten times faster).")
    ] = 1.0,
    demo_credits: DemoCredits = 10,
) -> None:
    """Serve the local PiktID emulator (demo account: demo@piktid.local / demo-password)."""
    emulator_module = _emulator_module()
    config = emulator_module.EmulatorConfig(time_scale=time_scale, demo_credits=demo_credits)
    console.print(
        f"PiktID emulator on http://{host}:{port}/api — export "
        f"PIKTID_BASE_URL=http://{host}:{port}/api PIKTID_EMAIL=demo@piktid.local "
        "PIKTID_PASSWORD=demo-password"
    )
    emulator_module.serve(host=host, port=port, config=config)


def _emulator_module() -> Any:
    try:
        import piktid_prefect.emulator as emulator_module
    except ImportError as exc:  # the [emulator] extra is missing
        _fail(f"the emulator needs the extra: pip install 'piktid-prefect[emulator]' ({exc})")
    return emulator_module


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "piktid-output"
    ),
) -> None:
    """Person and background variations of the bundled photos, on the embedded emulator."""
    from piktid_prefect.demo import run_demo

    _emulator_module()
    try:
        result, where = run_demo(out)
    except PiktidError as exc:
        _fail(_first_line(exc), 1)
    print_summary(result, out)
    Console().print(where)


def main() -> None:  # pragma: no cover - console entry for `python -m`
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
