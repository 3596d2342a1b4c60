"""A journal of started generations, so that a crashed run does not pay for them again.

Prefect's result cache remembers finished outputs. A generation that was started (and
paid) but whose run died before its notification came is not in it: a re-run would
start and pay for it again, although PiktID keeps its notification for 600 s. The
journal closes that gap: every start is written down (one small JSON file per output
identity) before the wait begins and removed when the output is settled; a re-run finds
the entry and waits for the notification of the job already paid for, as long as it can
still arrive.

The journal lives on local disk (``PIKTID_JOURNAL_DIR``, default
``~/.piktid-prefect/journal``): it protects re-runs on the same machine, which is where a
crashed run is normally resumed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

from piktid_prefect.wire.models import GenerationJob

__all__ = ["JobJournal", "default_journal"]


class JobJournal:
    """Started-but-unsettled jobs, one file per output identity."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def _path(self, identity: str) -> Path:
        return self.folder / f"{identity}.json"

    def pending(self, identity: str, *, max_age_seconds: float) -> GenerationJob | None:
        """The job started for ``identity`` if its notification may still arrive."""
        path = self._path(identity)
        try:
            job = GenerationJob.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if time.time() - job.started_at >= max_age_seconds:
            self.settle(identity)
            return None
        return job

    def record(self, identity: str, job: GenerationJob) -> None:
        """Write ``job`` down (atomically) before waiting for it."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(job.model_dump_json())
            os.replace(tmp, self._path(identity))
        except OSError:
            # The journal only saves credits on a crash; it must never fail a run.
            pass

    def settle(self, identity: str) -> None:
        """Forget ``identity``: its output was delivered, failed, or can no longer come."""
        with contextlib.suppress(OSError):
            self._path(identity).unlink()


def default_journal() -> JobJournal:
    """The journal at ``PIKTID_JOURNAL_DIR`` (default ``~/.piktid-prefect/journal``)."""
    folder = os.environ.get("PIKTID_JOURNAL_DIR") or "~/.piktid-prefect/journal"
    return JobJournal(Path(folder).expanduser())
