"""The credit side of the ``piktid-prefect`` command: ``plan``, the credit options, spend lines.

``piktid-prefect plan IMAGE... -k Location=Oceania -b nature_landscapes=Beach`` lists what a
run would make, which outputs are already delivered or cached, the credits it would
spend and the balance, with no upload and no start (one ``GET /me``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from piktid_prefect.execution import inputs

__all__ = [
    "AllowPartial",
    "DemoCredits",
    "LowCredits",
    "MaxCredits",
    "plan",
    "print_credits",
]

MaxCredits = Annotated[
    int | None,
    typer.Option(
        "--max-credits",
        min=0,
        help="Never start more than N paid generations in this run (retries included).",
    ),
]
AllowPartial = Annotated[
    bool,
    typer.Option(
        "--allow-partial",
        help="Short of credits: make the first outputs that fit and list the rest, "
        "instead of refusing the run before any start.",
    ),
]
LowCredits = Annotated[
    float | None,
    typer.Option(
        "--low-credits",
        help="Warn (and emit a piktid.credits.low event) when the balance after the run "
        "is under this.",
    ),
]
DemoCredits = Annotated[
    int, typer.Option("--demo-credits", min=0, help="Credits of the demo account.")
]


def print_credits(result: Any) -> None:
    """The run's spend and the outputs ``--allow-partial`` left out, on stdout."""
    console = Console()
    if result.credits is not None:
        console.print(result.credits.line(), highlight=False)
    for failed in result.left_out:
        keyword = ", ".join(f"{k}={v}" for k, v in failed.keyword.items())
        who = "background" if failed.person is None else f"person {failed.person}"
        console.print(
            escape(f"left out (not enough credits): {failed.image} {who} {keyword}"),
            highlight=False,
        )


def plan(
    images: Annotated[list[Path], typer.Argument(help="Image files or one folder of images.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder the run would write to.")
    ] = Path("piktid-output"),
    keyword: Annotated[
        list[str] | None,
        typer.Option("--keyword", "-k", help="Person keyword, e.g. Location=Oceania."),
    ] = None,
    background: Annotated[
        list[str] | None,
        typer.Option("--background", "-b", help="Background keyword, e.g. seasonal=Winter."),
    ] = None,
    prompt: Annotated[str, typer.Option("--prompt", help="Free-text background prompt.")] = "",
    person: Annotated[
        list[int] | None, typer.Option("--person", "-p", help="Person id (repeatable).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed for every output.")] = None,
    credentials_block: Annotated[
        str | None, typer.Option("--credentials-block", help="A saved PiktidCredentials block.")
    ] = None,
    max_credits: MaxCredits = None,
) -> None:
    """What a run would make and spend: no upload, no start (one GET /me)."""
    from piktid_prefect import cli
    from piktid_prefect.execution.plan import plan_batch_variations

    sources = [str(p) for p in images]
    creds = cli._credentials(credentials_block)
    from piktid_prefect.cli._environment import prepare_prefect_environment
    from piktid_prefect.cli._errors import report_error

    person_keywords = cli._checked(
        lambda: inputs.person_keywords(cli._parse_keywords(keyword or []))
    )
    background_keywords = cli._checked(
        lambda: inputs.background_keywords(cli._parse_keywords(background or []))
    )
    prepare_prefect_environment(verbose=False)
    try:
        result = plan_batch_variations(
            images=sources[0] if len(sources) == 1 and images[0].is_dir() else sources,
            person_keywords=person_keywords,
            background_keywords=background_keywords,
            persons=person or "approved",
            prompt=prompt,
            seed=seed,
            credentials=creds,
            out_dir=str(out),
            max_credits=max_credits,
        )
    except Exception as exc:
        report_error(exc, verbose=False)
    table = Table(title=f"PiktID plan for {out}")
    for column in ("image", "person", "keyword", "seed", "status", "file"):
        table.add_column(column, overflow="fold")
    for row in result.outputs:
        table.add_row(
            row.image,
            "-" if row.kind == "background" else ("?" if row.person is None else str(row.person)),
            ", ".join(f"{k}={v}" for k, v in row.keyword.items()) or "(prompt)",
            "" if row.seed is None else str(row.seed),
            row.status,
            row.file,
        )
    Console().print(table)
    Console().print(result.line(), highlight=False)
    if not result.exact:
        Console().print(
            "persons unknown: those images were never uploaded; their person outputs are "
            "counted once per keyword (name ids with --person, or run once to upload).",
            highlight=False,
        )
