"""What a run shows in the Prefect UI: a progress bar, images as they arrive, a table.

Every artifact is a call to the Prefect API (~25-35 ms). Made on the fan-out loop, they
would hold back the next generation's start and, at the end, the flow's return, so a
:class:`RunDisplay` sends them from one background thread of its own: progress updates
coalesce (the thread sends the latest count, however many outputs finished meanwhile),
and a failing artifact call is logged, never raised: the outputs matter more than
their display.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

from prefect.artifacts import (
    create_image_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from piktid_prefect.runtime.results import OutputRecord

__all__ = ["MAX_IMAGE_ARTIFACTS", "RunDisplay"]

logger = logging.getLogger(__name__)

# One image artifact per output floods the UI on big batches: show the first few.
MAX_IMAGE_ARTIFACTS = 24
# Progress moves at least every 1 % of the outputs or every 2 s, whichever comes first.
_PROGRESS_STEP_FRACTION = 0.01
_PROGRESS_MAX_SECONDS = 2.0


class RunDisplay:
    """The UI side of one fan-out: progress, the first images, and the final table.

    Args:
        total: Outputs the run will make.
        progress_key: Artifact key of the progress bar.
        table_key: Artifact key of the outputs table.
    """

    def __init__(
        self,
        total: int,
        *,
        progress_key: str = "piktid-progress",
        table_key: str = "piktid-outputs",
    ) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.failed = 0
        self._table_key = table_key
        self._lock = threading.Lock()
        self._images = 0
        self._progress_id: UUID | None = None
        self._progress_queued = False
        self._shown = 0
        self._shown_at = time.monotonic()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="piktid-ui")
        self._send(self._create_progress, progress_key, total)

    def delivered(self, record: OutputRecord) -> None:
        """Count one delivered output; show its image if it is among the first."""
        with self._lock:
            self.done += 1
            show_image = self._images < MAX_IMAGE_ARTIFACTS
            self._images += int(show_image)
        if show_image:
            self._send(_create_image, record)
        self._advance()

    def failed_one(self) -> None:
        """Count one output that failed."""
        with self._lock:
            self.done += 1
            self.failed += 1
        self._advance()

    def finish(self, records: Sequence[OutputRecord], *, note: str = "") -> None:
        """Queue the final progress and the table of ``records`` (``close`` waits for them).

        ``note`` (e.g. the run's credits line) is added to the table's description.
        """
        self._send(self._update_progress)
        if records:
            self._send(_create_table, list(records), self._table_key, note)

    def close(self) -> None:
        """Wait until everything queued is sent; send nothing more."""
        self._worker.shutdown(wait=True)

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


def _logged(call: Callable[..., None], *args: Any) -> None:
    try:
        call(*args)
    except Exception as exc:
        logger.warning("Could not update the run's artifacts: %s", exc)


def _create_image(record: OutputRecord) -> None:
    keyword = ", ".join(f"{k}={v}" for k, v in record.keyword.items())
    who = f"person {record.person}" if record.person is not None else "background"
    create_image_artifact(image_url=record.link, description=f"{record.image}: {who}, {keyword}")


def _create_table(records: Sequence[OutputRecord], key: str, note: str = "") -> None:
    rows = [
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
    description = f"{len(rows)} PiktID outputs of this run" + (f"; {note}" if note else "")
    create_table_artifact(table=rows, key=key, description=description)
