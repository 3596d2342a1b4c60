"""RunDisplay: artifacts leave the fan-out loop, coalesce, never fail a run, and carry
their pictures inside them within a per-run byte budget."""

from __future__ import annotations

import base64
import io
import json
import logging
import random
import re
import threading
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from PIL import Image

from piktid_prefect.artifacts import display as ui
from piktid_prefect.artifacts.sheets import sheet_key
from piktid_prefect.runtime.results import OutputRecord, UploadedImage
from piktid_prefect.storage import DEFAULT_TABLE_MAX_ROWS
from piktid_prefect.wire.errors import InvalidConfiguration

ARTIFACT_CALLS = (
    "create_progress_artifact",
    "update_progress_artifact",
    "create_markdown_artifact",
    "create_table_artifact",
)


class FakeArtifacts:
    """Stands in for the Prefect artifact API; ``gate`` holds every call until set."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail_images = False
        for name in ARTIFACT_CALLS:
            monkeypatch.setattr(ui, name, self._recorder(name))

    def _recorder(self, name: str) -> Any:
        def call(**kwargs: Any) -> Any:
            self.gate.wait(10)
            preview = name == "create_markdown_artifact" and kwargs.get("key") is None
            if preview and self.fail_images:
                raise RuntimeError("Prefect API unreachable")
            self.calls.append((name, kwargs))
            return uuid4()

        return call

    def named(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for called, kwargs in self.calls if called == name]

    def previews(self) -> list[dict[str, Any]]:
        """Markdown artifacts without a key: one output's picture each."""
        return [c for c in self.named("create_markdown_artifact") if c.get("key") is None]

    def sheets(self) -> list[dict[str, Any]]:
        """Markdown artifacts with a key: the contact sheets."""
        return [c for c in self.named("create_markdown_artifact") if c.get("key") is not None]

    def picture_bytes(self) -> int:
        """What the run's artifacts weigh: every markdown and table."""
        return sum(len(c["markdown"]) for c in self.named("create_markdown_artifact")) + sum(
            len(json.dumps(c["table"], default=str)) for c in self.named("create_table_artifact")
        )


def photo(path: Path, size: tuple[int, int] = (640, 480), seed: int = 0) -> Path:
    """A real JPEG of noisy blocks (compresses about like a photo)."""
    rng = random.Random(seed)
    small = Image.new("RGB", (size[0] // 8, size[1] // 8))
    small.putdata(
        [tuple(rng.randrange(256) for _ in range(3)) for _ in range(small.width * small.height)]
    )  # type: ignore[misc]
    small.resize(size, Image.Resampling.BILINEAR).save(path, quality=90)
    return path


def record(n: int, path: Path | str = "/nowhere/missing.jpg", image: str = "img") -> OutputRecord:
    return OutputRecord(
        path=str(path),
        id_image="abc",
        image=image,
        image_sha256=f"sha-{image}",
        kind="person",
        person=0,
        keyword={"Location": "Oceania"},
        seed=n,
        link=f"http://127.0.0.1/files/{n}.jpg",
        seconds=1.0,
        sha256="0" * 64,
    )


def original(image: str, source: Path) -> UploadedImage:
    return UploadedImage(
        image_id="abc",
        sha256=f"sha-{image}",
        name=image,
        account_key="acct",
        uploaded_at=0.0,
        source=str(source),
    )


def variations(
    tmp_path: Path, image: str, numbers: range | list[int], seed: int
) -> list[OutputRecord]:
    """Output records of ``image``, each a real JPEG of its own."""
    return [record(n, photo(tmp_path / f"{image}_{n}.jpg", seed=seed + n), image) for n in numbers]


def originals_a_and_b(tmp_path: Path) -> list[UploadedImage]:
    """Two uploaded source images, ``a`` and ``b``, with real files."""
    return [
        original("a", photo(tmp_path / "a.jpg", seed=1)),
        original("b", photo(tmp_path / "b.jpg", seed=2)),
    ]


def decoded(markdown: str) -> Image.Image:
    """The one picture of a preview's markdown."""
    (payload,) = re.findall(r"\]\(data:image/jpeg;base64,([A-Za-z0-9+/=]+)\)", markdown)
    return Image.open(io.BytesIO(base64.b64decode(payload)))


def test_deliveries_never_wait_for_the_prefect_api(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeArtifacts(monkeypatch)
    fake.gate.clear()  # the API hangs
    display = ui.RunDisplay(50)
    for n in range(50):
        display.delivered(record(n))  # returns although no artifact call can finish
    assert display.done == 50 and fake.calls == []
    fake.gate.set()
    display.finish([record(n) for n in range(50)])
    display.close()
    assert fake.named("update_progress_artifact")[-1]["progress"] == 100.0
    (table,) = fake.named("create_table_artifact")
    assert len(table["table"]) == 50


def test_progress_updates_coalesce_and_previews_stop_at_the_cap(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = FakeArtifacts(monkeypatch)
    display = ui.RunDisplay(1000, max_artifact_bytes=100_000_000)
    picture = photo(tmp_path / "out.jpg")
    records = [record(n, picture) for n in range(1000)]
    for r in records[:400]:
        display.delivered(r)
    for _ in range(600):
        display.failed_one()
    display.finish(records[:400])
    display.close()
    updates = fake.named("update_progress_artifact")
    # At most one per 1 % of the outputs (plus the final one), not one per output.
    assert 1 <= len(updates) <= 101
    assert [u["progress"] for u in updates] == sorted(u["progress"] for u in updates)
    assert updates[-1]["progress"] == 100.0
    assert updates[-1]["description"] == "1000 of 1000 PiktID outputs done, 600 failed"
    assert len(fake.previews()) == ui.MAX_IMAGE_ARTIFACTS


def test_previews_are_thumbnails_of_the_downloaded_files_not_their_links(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = FakeArtifacts(monkeypatch)
    display = ui.RunDisplay(2)
    display.delivered(record(0, photo(tmp_path / "wide.jpg", (1600, 900))))
    display.delivered(record(1, photo(tmp_path / "tall.jpg", (600, 1000))))
    display.close()
    sizes = [decoded(c["markdown"]).size for c in fake.previews()]
    assert sizes == [(320, 180), (192, 320)]


def test_a_sheet_per_image_shows_its_original_and_every_variation_and_the_table_links_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = FakeArtifacts(monkeypatch)
    outputs = variations(tmp_path, "a", range(5), seed=10) + variations(tmp_path, "b", [9], seed=0)
    display = ui.RunDisplay(6, originals=originals_a_and_b(tmp_path))
    display.finish(outputs)
    display.close()
    sheets = {c["key"]: c["markdown"] for c in fake.sheets()}
    assert sorted(sheets) == [sheet_key("a"), sheet_key("b")]
    sheet_a = sheets[sheet_key("a")]
    assert sheet_a.count("](data:image/jpeg;base64,") == 1 + 5
    assert "![original a](data:" in sheet_a
    for n in range(5):
        assert f"![a_{n}.jpg](data:" in sheet_a and f"seed {n}" in sheet_a
    (table,) = fake.named("create_table_artifact")
    links = {row["image"]: row["sheet"] for row in table["table"]}
    assert set(links) == {"a", "b"}
    assert all(
        re.fullmatch(r"\[contact sheet\]\(/artifacts/artifact/[0-9a-f-]{36}\)", v)
        for v in links.values()
    )
    assert links["a"] != links["b"]


@pytest.mark.parametrize("mid_run", [False, True], ids=["sheets-at-the-end", "sheets-mid-run"])
def test_a_thousand_outputs_get_sheets_for_the_first_images_and_a_readable_table_within_budget(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mid_run: bool
) -> None:
    """Sent mid-run (each image once its outputs are done), sheets leave room for the table.

    The table shows the first 500 rows (issue 22: a person reads them; the complete list
    is manifest.json, which the description names)."""
    fake = FakeArtifacts(monkeypatch)
    files = [photo(tmp_path / f"{n}.jpg", seed=n) for n in range(8)]
    images = [f"photo{i:02d}" for i in range(40)]
    outputs = [
        record(n, files[n % 8], images[n // 25]) for n in range(1000)
    ]  # 40 images x 25 variations
    budget = ui.DEFAULT_ARTIFACT_MAX_BYTES
    display = ui.RunDisplay(
        1000,
        originals=[original(i, files[0]) for i in images],
        expected={i: 25 for i in images} if mid_run else None,
        max_artifact_bytes=budget,
        manifest_uri="s3://studio/out/manifest.json",
    )
    for r in outputs:
        display.delivered(r)
    display.finish(outputs)
    display.close()
    (table,) = fake.named("create_table_artifact")
    assert len(table["table"]) == DEFAULT_TABLE_MAX_ROWS
    assert [row["path"] for row in table["table"]] == [r.path for r in outputs[:500]]
    assert table["description"].startswith("1,000 outputs of 40 images")
    assert "complete list: `s3://studio/out/manifest.json`. First 500 shown" in table["description"]
    sheeted = [c["key"] for c in fake.sheets()]
    assert 1 <= len(sheeted) < 40
    assert sheeted == [sheet_key(i) for i in images[: len(sheeted)]]  # the first images
    linked = {row["image"] for row in table["table"] if row["sheet"]}
    assert linked == set(images[: len(sheeted)])
    assert fake.picture_bytes() <= budget
    assert f"contact sheets of {len(sheeted)} of 40 images" in table["description"]


def test_a_zero_budget_sends_text_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = FakeArtifacts(monkeypatch)
    monkeypatch.setenv(ui.ARTIFACT_MAX_BYTES_ENV, "0")
    outputs = [record(n, photo(tmp_path / f"{n}.jpg")) for n in range(3)]
    display = ui.RunDisplay(3)
    for r in outputs:
        display.delivered(r)
    display.finish(outputs)
    display.close()
    assert fake.named("create_markdown_artifact") == []
    (table,) = fake.named("create_table_artifact")
    assert [row["sheet"] for row in table["table"]] == ["", "", ""]


@pytest.mark.parametrize("value", ["2MB", "-1"])
def test_a_bad_budget_setting_is_refused_before_the_run_starts(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(ui.ARTIFACT_MAX_BYTES_ENV, value)
    with pytest.raises(InvalidConfiguration, match=ui.ARTIFACT_MAX_BYTES_ENV):
        ui.RunDisplay(3)


def test_a_missing_file_leaves_a_labelled_gap_and_the_rest_still_goes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeArtifacts(monkeypatch)
    outputs = [record(0, tmp_path / "gone.jpg"), record(1, photo(tmp_path / "here.jpg"))]
    display = ui.RunDisplay(2, originals=[original("img", tmp_path / "gone-original.jpg")])
    with caplog.at_level(logging.WARNING, logger=ui.__name__):
        for r in outputs:
            display.delivered(r)
        display.finish(outputs)
        display.close()
    assert "No thumbnail of gone.jpg" in caplog.text
    assert len(fake.previews()) == 1
    (sheet,) = fake.sheets()
    assert sheet["markdown"].count("*(picture not available)*") == 2  # original + gone.jpg
    assert "![here.jpg](data:image/jpeg" in sheet["markdown"]


def test_outputs_in_a_filesystem_block_are_read_back_through_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from prefect.filesystems import LocalFileSystem

    fake = FakeArtifacts(monkeypatch)
    block = LocalFileSystem(basepath=str(tmp_path / "bucket"))
    (tmp_path / "bucket").mkdir()
    photo(tmp_path / "bucket" / "out.jpg")
    display = ui.RunDisplay(1, storage=block)
    display.delivered(record(0, "out.jpg"))  # block-relative, as download_result records it
    display.close()
    (preview,) = fake.previews()
    assert decoded(preview["markdown"]).size == (320, 240)


def test_a_failing_artifact_call_is_logged_and_the_rest_still_goes(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    fake = FakeArtifacts(monkeypatch)
    fake.fail_images = True
    picture = photo(tmp_path / "out.jpg")
    display = ui.RunDisplay(3)
    with caplog.at_level(logging.WARNING, logger=ui.__name__):
        for n in range(3):
            display.delivered(record(n, picture))
        display.finish([record(n, picture) for n in range(3)])
        display.close()
    assert "Prefect API unreachable" in caplog.text
    assert len(fake.named("create_table_artifact")) == 1
    assert fake.named("update_progress_artifact")[-1]["progress"] == 100.0


def test_a_sheet_the_api_refuses_is_logged_and_the_table_still_goes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeArtifacts(monkeypatch)

    def refuse(**kwargs: Any) -> Any:
        raise RuntimeError("413 Request Entity Too Large")

    monkeypatch.setattr(ui, "create_markdown_artifact", refuse)
    outputs = [record(0, photo(tmp_path / "a.jpg"), "a"), record(1, photo(tmp_path / "b.jpg"), "b")]
    display = ui.RunDisplay(2)
    with caplog.at_level(logging.WARNING, logger=ui.__name__):
        display.finish(outputs)
        display.close()
    assert "Could not send the contact sheet of a: 413" in caplog.text
    (table,) = fake.named("create_table_artifact")
    assert [row["sheet"] for row in table["table"]] == ["", ""]


def wait_for(condition: Any, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_an_images_sheet_goes_out_when_its_last_output_is_done_not_at_the_end(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = FakeArtifacts(monkeypatch)
    outputs_a = variations(tmp_path, "a", range(3), seed=10)
    outputs_b = variations(tmp_path, "b", range(2), seed=20)
    display = ui.RunDisplay(6, originals=originals_a_and_b(tmp_path), expected={"a": 3, "b": 3})
    for r in reversed(outputs_a[:2]):  # in any order
        display.delivered(r)
    display.failed_one("a")  # a failed output counts: a is done
    assert wait_for(lambda: len(fake.sheets()) == 1)
    (sheet_a,) = fake.sheets()
    assert sheet_a["key"] == sheet_key("a")
    assert sheet_a["markdown"].count("](data:image/jpeg;base64,") == 1 + 2  # no failed one
    shown = sheet_a["markdown"]
    assert shown.index("![a_0.jpg]") < shown.index("![a_1.jpg]")  # in the table's order
    for r in outputs_b:
        display.delivered(r)
    time.sleep(0.2)
    assert len(fake.sheets()) == 1  # b still has an output to come
    display.failed_one("b")
    display.finish(outputs_a[:2] + outputs_b)
    display.close()
    assert [s["key"] for s in fake.sheets()] == [sheet_key("a"), sheet_key("b")]  # once each
    (table,) = fake.named("create_table_artifact")
    links = {row["image"]: row["sheet"] for row in table["table"]}
    assert links["a"] and links["b"] and links["a"] != links["b"]
    assert "contact sheets of 2 of 2 images" in table["description"]
