"""Sheet keys, sheet markdown and thumbnails: the pure parts of the pictures in the UI."""

from __future__ import annotations

import base64
import io
import re

import pytest
from PIL import Image
from prefect.types.names import raise_on_name_alphanumeric_dashes_only

from piktid_prefect.artifacts.sheets import (
    SHEET_COLUMNS,
    Picture,
    sheet_key,
    sheet_markdown,
    variation_label,
)
from piktid_prefect.artifacts.thumbnails import ThumbnailUnavailable, thumbnail_data_uri
from piktid_prefect.runtime.results import OutputRecord


def jpeg(size: tuple[int, int], orientation: int | None = None) -> bytes:
    out = io.BytesIO()
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    Image.new("RGB", size, (200, 30, 30)).save(out, format="JPEG", exif=exif)
    return out.getvalue()


def live_pipes(row: str) -> int:
    """Cell separators of a markdown table row (escaped pipes are text)."""
    return row.count("|") - row.count("\\|")


def size_of(uri: str) -> tuple[int, int]:
    assert uri.startswith("data:image/jpeg;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).size


@pytest.mark.parametrize(
    "name",
    [
        "astronaut",
        "Grace_Hopper",
        "IMG 0042 (copy).JPG",
        "--x--",
        "照片",
        "a" * 300,
        "photo-1a2b3c4d",
    ],
)
def test_sheet_keys_are_valid_prefect_keys_and_stable_per_name(name: str) -> None:
    key = sheet_key(name)
    assert raise_on_name_alphanumeric_dashes_only(key) == key
    assert key == sheet_key(name)
    assert len(key) <= 80


def test_different_unreadable_names_get_different_keys() -> None:
    assert sheet_key("照片") != sheet_key("写真")


def test_a_sheet_puts_the_original_first_and_the_variations_beside_it_in_rows() -> None:
    variations = [Picture(f"data:,V{n}", f"v{n}.jpg", [f"seed {n}"]) for n in range(7)]
    markdown = sheet_markdown("astronaut", Picture("data:,O", "original", ["o"]), variations)
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and "data:" in line]
    assert len(rows) == 3  # 7 variations, three to a row
    assert rows[0].startswith("| ![original](data:,O)<br>o | ![v0.jpg](data:,V0)<br>seed 0 |")
    assert all(row.startswith("|  | ") for row in rows[1:])  # the original's column stays free
    assert all(live_pipes(row) == SHEET_COLUMNS + 2 for row in rows)  # the original + 3
    assert "the original and 7 variations" in markdown


def test_labels_cannot_break_the_table_or_inject_markup() -> None:
    nasty = Picture("data:image/jpeg;base64,X", "a]b|c", ["Location: <script>|x*y*"])
    markdown = sheet_markdown("a|b", Picture(None, "o", ["o"]), [nasty])
    (row,) = [line for line in markdown.splitlines() if "data:" in line]
    assert live_pipes(row) == SHEET_COLUMNS + 2  # the label's pipe is escaped
    assert "<script>" not in markdown and "&lt;script&gt;" in markdown
    assert "![a b c](data:" in row
    assert "*(picture not available)*" in row


def test_variation_labels_name_person_keyword_and_seed() -> None:
    record = OutputRecord(
        path="x.jpg",
        id_image="i",
        image="img",
        kind="person",
        person=2,
        keyword={"Location": "East Asia"},
        seed=42,
        link="http://x",
        seconds=1.0,
        sha256="0",
    )
    assert variation_label(record) == ["person 2", "Location: East Asia", "seed 42"]
    background = record.model_copy(update={"person": None, "kind": "background", "seed": None})
    assert variation_label(background) == ["background", "Location: East Asia", "random seed"]


@pytest.mark.parametrize(("size", "expected"), [((4000, 3000), (320, 240)), ((100, 60), (100, 60))])
def test_thumbnails_are_small_jpegs_never_enlarged(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert size_of(thumbnail_data_uri(jpeg(size))) == expected


def test_thumbnails_follow_the_exif_orientation() -> None:
    # Orientation 6: stored landscape, shown portrait (a phone photo held upright).
    assert size_of(thumbnail_data_uri(jpeg((640, 480), orientation=6))) == (240, 320)


def test_bytes_that_are_not_an_image_raise_a_named_error() -> None:
    with pytest.raises(ThumbnailUnavailable, match="not a readable image"):
        thumbnail_data_uri(b"<html>expired link</html>")


def test_a_thumbnail_is_a_fraction_of_a_photo() -> None:
    from piktid_prefect.demo import sample_images

    for path in sample_images():
        uri = thumbnail_data_uri(path.read_bytes())
        assert re.fullmatch(r"data:image/jpeg;base64,[A-Za-z0-9+/=]+", uri)
        assert len(uri) < 30_000
