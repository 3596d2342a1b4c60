"""A contact sheet shows each variation followed by its chained results."""

from __future__ import annotations

from piktid_prefect.artifacts.sheets import Picture, chain_cells, sheet_markdown
from piktid_prefect.runtime.chain_models import StepRecord
from piktid_prefect.runtime.results import OutputRecord


def _record(person: int) -> OutputRecord:
    steps = [
        StepRecord(path=f"v{person}_x2.png", step="upscale x2", link="", seconds=1, sha256=""),
        StepRecord(path=f"v{person}_id.jpg", step="identity ada", link="", seconds=1, sha256=""),
    ]
    return OutputRecord(
        path=f"v{person}.jpg", id_image="i", image="photo", kind="person", person=person,
        keyword={"Location": "Oceania"}, seed=1, link="", seconds=1, sha256="", chain=steps,
    )  # fmt: skip


def test_each_variation_is_followed_by_its_steps_and_the_title_counts_them_apart() -> None:
    records = [_record(0), _record(1)]
    cells = [cell for record in records for cell in chain_cells(record)]
    pictures = [Picture(None, path, label) for path, label in cells]

    sheet = sheet_markdown("photo", Picture(None, "o", ["original"]), pictures, chained=4)

    assert [path for path, _ in cells] == [
        "v0.jpg", "v0_x2.png", "v0_id.jpg", "v1.jpg", "v1_x2.png", "v1_id.jpg"
    ]  # fmt: skip
    assert cells[1][1] == ["then upscale x2", "person 0", "Location: Oceania"]
    assert "the original and 2 variations and 4 chained results" in sheet
    assert sheet.index("then identity ada") < sheet.index("person 1<br>Location")
