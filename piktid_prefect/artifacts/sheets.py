"""Contact sheets: one markdown artifact per source image, the original beside its variations.

A sheet is a markdown table: the original in the first column, the variations three to
a row beside it, each labelled person / keyword / seed under its picture, and each
followed by the results of the steps chained after it (``RunSettings.then``). Pictures are
``data:`` URIs (see :mod:`piktid_prefect.artifacts.thumbnails`), so the sheet still shows after the
result links are gone. Prefect's UI renders markdown tables, images and ``<br>`` in them.

The artifact key depends only on the image's name, so the sheets of a scheduled
deployment line up run after run under ``/artifacts/key/<key>`` in the UI.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from piktid_prefect.runtime.results import OutputRecord

__all__ = [
    "MAX_SHEET_VARIATIONS",
    "SHEET_COLUMNS",
    "SHEET_THUMBNAIL_SIDE",
    "Picture",
    "chain_cells",
    "preview_markdown",
    "sheet_key",
    "sheet_markdown",
    "variation_label",
]

# Variations per row beside the original: four columns of 180 px pictures fit the artifact
# page on a 1440 px wide screen without scrolling sideways (checked in Chromium).
SHEET_COLUMNS = 3
# Long side of a sheet's pictures: a contact sheet is for comparing at a glance (the
# previews of single outputs are bigger).
SHEET_THUMBNAIL_SIDE = 180
# One image's sheet stays readable (and its bytes bounded) however many keywords it got;
# the outputs table lists the rest.
MAX_SHEET_VARIATIONS = 48
# Prefect keys are free-length, but a key is also a URL path segment and a UI title.
_MAX_KEY_SLUG = 60


@dataclass(frozen=True)
class Picture:
    """One cell of a sheet: a thumbnail (or None when the file could not be read), labelled.

    Each label line shows on a line of its own under the picture.
    """

    uri: str | None
    alt: str
    label: Sequence[str]


def sheet_key(image_name: str, prefix: str = "piktid-sheet") -> str:
    """The artifact key of ``image_name``'s sheet: lowercase letters, digits and dashes.

    Example:
        >>> sheet_key("Grace_Hopper")
        'piktid-sheet-grace-hopper'
    """
    slug = re.sub(r"[^a-z0-9]+", "-", image_name.lower()).strip("-")[:_MAX_KEY_SLUG].strip("-")
    if not slug:  # a name with no ASCII letter or digit: still one stable key per name
        slug = "image-" + hashlib.sha256(image_name.encode()).hexdigest()[:12]
    return f"{prefix}-{slug}"


def variation_label(record: OutputRecord) -> list[str]:
    """``["person 0", "Location: Oceania", "seed 42"]`` (``background`` for backgrounds)."""
    who = "background" if record.person is None else f"person {record.person}"
    what = ", ".join(f"{k}: {v}" for k, v in record.keyword.items()) or "prompt"
    seed = "random seed" if record.seed is None else f"seed {record.seed}"
    return [who, what, seed]


def chain_cells(record: OutputRecord) -> list[tuple[str, list[str]]]:
    """``(path, label)`` of a variation, then of each step chained after it, in order: on a
    sheet, each variation is followed by its upscale, its identity swap, ..."""
    who = variation_label(record)
    cells = [(record.path, who)]
    for step in record.chain:
        cells.append((step.path, [f"then {step.step}", *who[:2]]))
    return cells


def sheet_markdown(
    image_name: str,
    original: Picture,
    variations: Sequence[Picture],
    more: int = 0,
    chained: int = 0,
) -> str:
    """The sheet of one image: a title, then the original beside a grid of variations.

    ``more`` variations beyond these are only mentioned (see ``MAX_SHEET_VARIATIONS``);
    ``chained`` of the pictures are steps chained after a variation (shown right after it).
    """
    count = len(variations) + more - chained
    steps = f" and {chained} chained result{'s' * (chained != 1)}" if chained else ""
    lines = [
        f"### {_text(image_name)}: the original and {count} variation{'s' * (count != 1)}" + steps,
        "",
        "| original | variations |" + " |" * (SHEET_COLUMNS - 1),
        "|---" * (SHEET_COLUMNS + 1) + "|",
    ]
    rows = [variations[i : i + SHEET_COLUMNS] for i in range(0, len(variations), SHEET_COLUMNS)]
    for index, row in enumerate(rows or [[]]):
        first = _cell(original) if index == 0 else ""
        cells = [first, *(_cell(p) for p in row)]
        cells += [""] * (SHEET_COLUMNS + 1 - len(cells))
        lines.append("| " + " | ".join(cells) + " |")
    if more:
        lines += ["", f"... and {more} more variations: see the run's outputs table."]
    return "\n".join(lines) + "\n"


def preview_markdown(picture: Picture) -> str:
    """One output on its own: the picture, then its label.

    A markdown artifact rather than an image artifact: Prefect's page of an image artifact
    also prints its URL as text, and a ``data:`` URI of 20 KB runs off the page.
    """
    return _cell(picture).replace("<br>", "\n\n", 1) + "\n"


def _cell(picture: Picture) -> str:
    label = "<br>".join(_text(line) for line in picture.label)
    if picture.uri is None:
        return f"*(picture not available)*<br>{label}"
    # Alt text is not unescaped by the UI: drop what would end it instead of escaping.
    alt = re.sub(r"[\[\]\\|<>\n]", " ", picture.alt)
    return f"![{alt}]({picture.uri})<br>{label}"


def _text(value: str) -> str:
    """``value`` shown as plain text in a markdown table cell (no markup, no HTML)."""
    escaped = html.escape(value, quote=False).replace("\n", " ")
    return re.sub(r"([\\`*_{}\[\]()#+!|~])", r"\\\1", escaped)
