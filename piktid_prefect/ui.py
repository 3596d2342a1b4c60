"""What a run shows in the Prefect UI: a progress bar, a table and images of outputs."""

from __future__ import annotations

import time
from collections.abc import Sequence
from uuid import UUID

from prefect.artifacts import (
    create_image_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from piktid_prefect.results import OutputRecord

__all__ = ["Progress", "publish_outputs"]

# One image artifact per output floods the UI on big batches: show the first few.
MAX_IMAGE_ARTIFACTS = 24


class Progress:
    """A progress artifact that moves as outputs complete."""

    def __init__(self, total: int, *, key: str = "piktid-progress") -> None:
        self.total = max(total, 1)
        self.done = 0
        self.failed = 0
        self._shown = 0
        self._shown_at = time.monotonic()
        self._id: UUID = create_progress_artifact(  # type: ignore[assignment]
            progress=0.0, key=key, description=f"0 of {total} PiktID outputs done"
        )

    def advance(self, *, failed: bool = False) -> None:
        """Count one output as finished (delivered or failed)."""
        self.done += 1
        self.failed += int(failed)
        # Each update is an API call (~30 ms): on big batches, update every 1 % or 2 s.
        now = time.monotonic()
        step = self.done - self._shown >= self.total / 100
        if self.done < self.total and not step and now - self._shown_at < 2.0:
            return
        self._shown, self._shown_at = self.done, now
        suffix = f", {self.failed} failed" if self.failed else ""
        update_progress_artifact(
            artifact_id=self._id,
            progress=100.0 * self.done / self.total,
            description=f"{self.done} of {self.total} PiktID outputs done{suffix}",
        )


def publish_outputs(records: Sequence[OutputRecord], *, key: str = "piktid-outputs") -> None:
    """A table of every output, and an image artifact for the first ones."""
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
    create_table_artifact(
        table=rows, key=key, description=f"{len(rows)} PiktID outputs of this run"
    )
    for record in records[:MAX_IMAGE_ARTIFACTS]:
        keyword = ", ".join(f"{k}={v}" for k, v in record.keyword.items())
        who = f"person {record.person}" if record.person is not None else "background"
        create_image_artifact(
            image_url=record.link, description=f"{record.image}: {who}, {keyword}"
        )
