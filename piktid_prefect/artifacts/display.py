"""What a run shows in the Prefect UI: progress, thumbnails, contact sheets, a table.

Every artifact is a call to the Prefect API (~25-35 ms), and every thumbnail a few ms of
Pillow. Made on the fan-out loop, they would hold back the next generation's start and,
at the end, the flow's return, so a :class:`RunDisplay` does both on one background
thread of its own: progress updates coalesce (the thread sends the latest count, however
many outputs finished meanwhile), and a failing artifact call is logged, never raised:
the outputs matter more than their display.

Pictures are thumbnails of the downloaded files embedded as ``data:`` URIs (see
:mod:`piktid_prefect.artifacts.thumbnails`): they load after the result links are gone. Their cost
is bounded per run by ``PIKTID_ARTIFACT_MAX_BYTES`` (default 2 MB), counted in the
bytes sent: previews of the first 24 outputs (markdown artifacts, one picture each) take
at most a quarter of it; the outputs table is always sent whole, at the end, and an
image's contact sheet (:mod:`piktid_prefect.artifacts.sheets`) is sent as soon as the last of its
outputs is done, while what is left beside the table fits, so a 1,000-output batch gets
sheets for the images that finished first and table rows for all. A sheet sent during
the run is one the user sees sooner, and one fewer that the flow's end waits for.
``PIKTID_ARTIFACT_MAX_BYTES=0`` sends text only (progress and table).
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from piktid_prefect.artifacts.sheets import (
    MAX_SHEET_VARIATIONS,
    SHEET_THUMBNAIL_SIDE,
    Picture,
    chain_cells,
    preview_markdown,
    sheet_key,
    sheet_markdown,
    variation_label,
)
from piktid_prefect.artifacts.thumbnails import (
    THUMBNAIL_MAX_SIDE,
    ReadsPaths,
    ThumbnailUnavailable,
    read_image_bytes,
    thumbnail_data_uri,
)
from piktid_prefect.runtime.results import OutputRecord, UploadedImage
from piktid_prefect.storage.table import fit_outputs_table
from piktid_prefect.wire.errors import InvalidConfiguration

__all__ = ["DEFAULT_ARTIFACT_MAX_BYTES", "MAX_IMAGE_ARTIFACTS", "RunDisplay", "artifact_max_bytes"]

logger = logging.getLogger(__name__)

# One preview artifact per output floods the UI on big batches: preview the first few.
MAX_IMAGE_ARTIFACTS = 24
# Artifacts live in the Prefect database and every UI visit downloads them: ~100 thumbnails.
DEFAULT_ARTIFACT_MAX_BYTES = 2_000_000
ARTIFACT_MAX_BYTES_ENV = "PIKTID_ARTIFACT_MAX_BYTES"
# Previews come first, so they must leave the sheets most of the budget.
_PREVIEW_SHARE = 0.25
# "[contact sheet](/artifacts/artifact/<uuid>)" and its JSON key, in each table row.
_SHEET_LINK_BYTES = 64
# A sheet sent mid-run leaves room for the table, estimated from the rows seen so far:
# rows differ only in names and keywords, a tenth more covers the longest of them.
_TABLE_ESTIMATE_MARGIN = 1.1
# Progress moves at least every 1 % of the outputs or every 2 s, whichever comes first.
_PROGRESS_STEP_FRACTION = 0.01
_PROGRESS_MAX_SECONDS = 2.0


def artifact_max_bytes() -> int:
    """The per-run artifact budget: ``PIKTID_ARTIFACT_MAX_BYTES`` or 2 MB.

    Raises:
        InvalidConfiguration: The variable is not a whole number of bytes, 0 or more.
    """
    raw = os.environ.get(ARTIFACT_MAX_BYTES_ENV, "").strip()
    if not raw:
        return DEFAULT_ARTIFACT_MAX_BYTES
    try:
        value = int(raw)
    except ValueError as exc:
        raise InvalidConfiguration(
            f"{ARTIFACT_MAX_BYTES_ENV} must be a whole number of bytes, not {raw!r}"
        ) from exc
    if value < 0:
        raise InvalidConfiguration(f"{ARTIFACT_MAX_BYTES_ENV} must be 0 or more, not {value}")
    return value


class RunDisplay:
    """The UI side of one fan-out: progress, previews, contact sheets and the final table.

    Args:
        total: Outputs the run will make.
        originals: The uploaded source images, for the originals on the sheets.
        expected: Outputs per image name: an image's sheet is sent once that many of its
            outputs are delivered or failed (None: every sheet waits for ``finish``).
        storage: The filesystem block the outputs were written to, when not a local
            folder: record paths are then read back through it.
        manifest_uri: Where the complete ``manifest.json`` is: the table names it when
            it shows only the first rows (Prefect refuses an artifact event over 1.5 MB).
        max_artifact_bytes: Budget of the run's artifacts (None: ``artifact_max_bytes()``).
        progress_key: Artifact key of the progress bar.
        table_key: Artifact key of the outputs table.
        sheet_prefix: Prefix of the sheets' artifact keys.
    """

    def __init__(
        self,
        total: int,
        *,
        originals: Sequence[UploadedImage] = (),
        expected: Mapping[str, int] | None = None,
        storage: ReadsPaths | None = None,
        manifest_uri: str = "manifest.json",
        max_artifact_bytes: int | None = None,
        progress_key: str = "piktid-progress",
        table_key: str = "piktid-outputs",
        sheet_prefix: str = "piktid-sheet",
    ) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.failed = 0
        self.budget = artifact_max_bytes() if max_artifact_bytes is None else max_artifact_bytes
        self.spent = 0  # bytes of pictures sent; only the worker thread writes it
        self._originals = {image.sha256: image.source for image in originals}
        self._storage = storage
        self._manifest_uri = manifest_uri
        self._table_key = table_key
        self._sheet_prefix = sheet_prefix
        self._lock = threading.Lock()
        self._previews = 0
        # Fan-out side: outputs not yet done, and those delivered, per image.
        self._unfinished = dict(expected or {})
        self._by_image: dict[str, list[OutputRecord]] = {}
        # Worker side: the sheets sent so far (image -> the table's link to it); once one
        # did not fit mid-run, the others wait for the end (the table's exact size).
        self._links: dict[str, str] = {}
        self._mid_run_sheets = True
        self._progress_id: UUID | None = None
        self._progress_queued = False
        self._shown = 0
        self._shown_at = time.monotonic()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="piktid-ui")
        self._send(self._create_progress, progress_key, total)

    def delivered(self, record: OutputRecord) -> None:
        """Count one delivered output; preview its picture if it is among the first."""
        with self._lock:
            self.done += 1
            preview = self.budget > 0 and self._previews < MAX_IMAGE_ARTIFACTS
            self._previews += int(preview)
            self._by_image.setdefault(record.image, []).append(record)
        if preview:
            self._send(self._create_preview, record)
        self._one_of_image_done(record.image)
        self._advance()

    def failed_one(self, image: str | None = None) -> None:
        """Count one output that failed (of ``image``, when known)."""
        with self._lock:
            self.done += 1
            self.failed += 1
        if image is not None:
            self._one_of_image_done(image)
        self._advance()

    def finish(self, records: Sequence[OutputRecord], *, note: str = "") -> None:
        """Queue the final progress, the sheets and the table (``close`` waits for them).

        ``note`` (e.g. the run's credits line) is added to the table's description.
        """
        self._send(self._update_progress)
        if records:
            self._send(self._create_sheets_and_table, list(records), note)

    def close(self) -> None:
        """Wait until everything queued is sent; send nothing more."""
        self._worker.shutdown(wait=True)

    def _one_of_image_done(self, image: str) -> None:
        with self._lock:
            if image not in self._unfinished:
                return
            self._unfinished[image] -= 1
            if self._unfinished[image] > 0:
                return
            del self._unfinished[image]
            records = list(self._by_image.get(image, ()))
        if records and self.budget > 0:
            self._send(self._create_sheet_of_finished_image, image, records)

    def _advance(self) -> None:
        with self._lock:
            now = time.monotonic()
            due = (
                self.done >= self.total
                or self.done - self._shown >= self.total * _PROGRESS_STEP_FRACTION
                or now - self._shown_at >= _PROGRESS_MAX_SECONDS
            )
            if not due or self._progress_queued:
                return
            self._progress_queued = True
            self._shown, self._shown_at = self.done, now
        self._send(self._update_progress)

    def _send(self, call: Callable[..., None], *args: Any) -> None:
        # The artifact functions find the flow run in context variables: carry them over.
        context = contextvars.copy_context()
        self._worker.submit(context.run, _logged, call, *args)

    def _create_progress(self, key: str, total: int) -> None:
        self._progress_id = create_progress_artifact(  # type: ignore[assignment]
            progress=0.0, key=key, description=f"0 of {total} PiktID outputs done"
        )

    def _update_progress(self) -> None:
        with self._lock:
            self._progress_queued = False
            done, failed = self.done, self.failed
        if self._progress_id is None:
            return
        suffix = f", {failed} failed" if failed else ""
        update_progress_artifact(
            artifact_id=self._progress_id,
            progress=100.0 * done / self.total,
            description=f"{done} of {self.total} PiktID outputs done{suffix}",
        )

    def _thumbnail(self, path: str, max_side: int, storage: ReadsPaths | None = None) -> str | None:
        try:
            return thumbnail_data_uri(read_image_bytes(path, storage), max_side)
        except ThumbnailUnavailable as exc:
            logger.warning("No thumbnail of %s: %s", os.path.basename(path), exc)
            return None

    def _create_preview(self, record: OutputRecord) -> None:
        uri = self._thumbnail(record.path, THUMBNAIL_MAX_SIDE, self._storage)
        if uri is None:
            return
        label = variation_label(record)
        markdown = preview_markdown(Picture(uri, os.path.basename(record.path), label))
        if self.spent + len(markdown) > self.budget * _PREVIEW_SHARE:
            return
        self.spent += len(markdown)
        create_markdown_artifact(
            markdown=markdown, description=f"{record.image}: {' · '.join(label)}"
        )

    def _create_sheet_of_finished_image(self, image: str, records: list[OutputRecord]) -> None:
        if not self._mid_run_sheets:
            return
        records = sorted(records, key=lambda r: r.path)  # the table's order, not arrival's
        row_bytes = len(json.dumps(_table_rows(records), default=str)) / len(records)
        table_reserve = _TABLE_ESTIMATE_MARGIN * self.total * (row_bytes + _SHEET_LINK_BYTES)
        room = self.budget - table_reserve - self.spent
        self._mid_run_sheets = self._create_sheet(image, records, room)

    def _create_sheet(self, image: str, outputs: list[OutputRecord], room: float) -> bool:
        """Send ``image``'s sheet if it fits in ``room`` bytes; False if it does not."""
        if image in self._links:
            return True
        if room <= 0:
            return False
        markdown = self._sheet(outputs)
        if len(markdown) > room:
            return False
        try:
            artifact_id = create_markdown_artifact(
                markdown=markdown,
                key=sheet_key(image, self._sheet_prefix),
                description=f"{image}: the original beside its {len(outputs)} variations",
            )
        except Exception as exc:  # the table still goes, without this link
            logger.warning("Could not send the contact sheet of %s: %s", image, exc)
            return True
        self.spent += len(markdown)
        # A path on the UI's own origin: right wherever the server is opened from.
        self._links[image] = f"[contact sheet](/artifacts/artifact/{artifact_id})"
        return True

    def _create_sheets_and_table(self, records: list[OutputRecord], note: str = "") -> None:
        rows = _table_rows(records)
        # The table is always sent whole: sheets not sent yet get what it leaves.
        table_bytes = len(json.dumps(rows, default=str)) + len(rows) * _SHEET_LINK_BYTES
        by_image: dict[str, list[OutputRecord]] = {}
        for record in records:
            by_image.setdefault(record.image, []).append(record)
        if self.budget > 0:
            for image, outputs in by_image.items():
                if not self._create_sheet(image, outputs, self.budget - table_bytes - self.spent):
                    break  # the images after it in table order get no sheet either
        links = self._links
        sheets = f"contact sheets of {len(links)} of {len(by_image)} images" if links else ""
        linked = [{"image": r["image"], "sheet": links.get(str(r["image"]), ""), **r} for r in rows]
        table = fit_outputs_table(
            linked,
            self._manifest_uri,
            note="; ".join(part for part in (sheets, note) if part),
        )
        create_table_artifact(table=table.rows, key=self._table_key, description=table.description)

    def _sheet(self, outputs: list[OutputRecord]) -> str:
        first = outputs[0]
        source = self._originals.get(first.image_sha256)
        original_uri = None if source is None else self._thumbnail(source, SHEET_THUMBNAIL_SIDE)
        shown = outputs[:MAX_SHEET_VARIATIONS]
        return sheet_markdown(
            first.image,
            Picture(original_uri, f"original {first.image}", ["original", first.image]),
            [
                Picture(
                    self._thumbnail(path, SHEET_THUMBNAIL_SIDE, self._storage),
                    os.path.basename(path),
                    label,
                )
                for r in shown
                for path, label in chain_cells(r)
            ],
            more=len(outputs) - len(shown),
            chained=sum(len(r.chain) for r in shown),
        )


def _logged(call: Callable[..., None], *args: Any) -> None:
    try:
        call(*args)
    except Exception as exc:
        logger.warning("Could not update the run's artifacts: %s", exc)


def _table_rows(records: Sequence[OutputRecord]) -> list[dict[str, Any]]:
    return [
        {
            "image": r.image,
            "kind": r.kind,
            "person": "" if r.person is None else r.person,
            "keyword": ", ".join(f"{k}={v}" for k, v in r.keyword.items()),
            "seed": "" if r.seed is None else r.seed,
            "link": r.link,
            "path": r.path,
            "seconds": r.seconds,
        }
        for r in records
    ]
