"""A journal of started generations, so that a crashed run does not pay for them again.

Prefect's result cache remembers finished outputs. A generation that was started (and
paid) but whose run died before its notification came is not in it: a re-run would
start and pay for it again, although PiktID keeps its notification for 600 s. The
journal closes that gap: every start is written down (one small JSON entry per output
identity) before the wait begins and removed when the output is settled; a re-run finds
the entry and waits for the notification of the job already paid for, as long as it can
still arrive.

Where it lives follows the result cache, so that both are seen by the same re-runs:

- Prefect's default result storage block is set (``PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK``,
  e.g. ``local-file-system/piktid-shared`` on a shared folder, or an S3/GCS bucket
  block): the journal is in that block, under ``piktid-journal/``. Workers on several
  machines that share the block and the Prefect server then share both the finished
  outputs and the paid starts: a run killed on one machine and re-run on another pays
  for nothing twice.
- Otherwise it is a local folder (``PIKTID_JOURNAL_DIR``, default
  ``~/.piktid-prefect/journal``), which protects re-runs on the same machine, as the
  default local result storage does.

Filesystem blocks can read and write but not delete: a settled entry in a block other
than a local folder is left as an empty object (read as "no entry").
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Protocol, TypeVar

from prefect.filesystems import LocalFileSystem, WritableFileSystem
from prefect.settings import get_current_settings

from piktid_prefect.runtime.blocking import run_async
from piktid_prefect.wire.models import GenerationJob
from piktid_prefect.wire.models_chain import IdentitySwapJob, StartedJob, UpscaleJob

__all__ = ["JOURNAL_PREFIX", "JobJournal", "default_journal", "shared_storage_block"]

J = TypeVar("J", GenerationJob, UpscaleJob, IdentitySwapJob)

JOURNAL_PREFIX = "piktid-journal"
logger = logging.getLogger(__name__)


class _Store(Protocol):
    def read(self, name: str) -> bytes | None: ...
    def write(self, name: str, content: bytes) -> None: ...
    def delete(self, name: str) -> None: ...


class _FolderStore:
    """Entries as files of a local folder, written atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def read(self, name: str) -> bytes | None:
        try:
            return (self.folder / name).read_bytes()
        except OSError:
            return None

    def write(self, name: str, content: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp, self.folder / name)

    def delete(self, name: str) -> None:
        with contextlib.suppress(OSError):
            (self.folder / name).unlink()


class _BlockStore:
    """Entries as objects of a Prefect filesystem block, under ``piktid-journal/``."""

    def __init__(self, block: WritableFileSystem) -> None:
        self.block = block

    def _key(self, name: str) -> str:
        return f"{JOURNAL_PREFIX}/{name}"

    def _call(self, method: str, *args: object) -> Any:
        # The public async twin (``aread_path``), or the method itself where a block
        # declares only the base class's ``async def read_path``; run to completion here,
        # whether or not the caller runs in an async flow.
        call = getattr(self.block, f"a{method}", None) or getattr(self.block, method)
        if not inspect.iscoroutinefunction(call):
            return call(*args)
        return run_async(call, *args)

    def read(self, name: str) -> bytes | None:
        try:
            content = self._call("read_path", self._key(name))
        except Exception:  # a missing object raises a different error in every block type
            return None
        return bytes(content) if isinstance(content, bytes | bytearray) else None

    def write(self, name: str, content: bytes) -> None:
        self._call("write_path", self._key(name), content)

    def delete(self, name: str) -> None:
        block = self.block
        if isinstance(block, LocalFileSystem) and block.basepath:
            with contextlib.suppress(OSError):
                (Path(block.basepath).expanduser() / self._key(name)).unlink()
                return
        self.write(name, b"")  # no delete in the filesystem interface: an empty entry


class JobJournal:
    """Started-but-unsettled jobs, one entry per output identity.

    Args:
        location: A local folder, or a Prefect filesystem block (shared by workers).
    """

    def __init__(self, location: str | os.PathLike[str] | WritableFileSystem) -> None:
        self._store: _Store = (
            _BlockStore(location)
            if isinstance(location, WritableFileSystem)
            else _FolderStore(Path(location))
        )

    @staticmethod
    def _name(identity: str) -> str:
        return f"{identity}.json"

    def pending(self, identity: str, *, max_age_seconds: float) -> GenerationJob | None:
        """The job started for ``identity`` if its notification may still arrive."""
        return self.pending_as(GenerationJob, identity, max_age_seconds=max_age_seconds)

    def pending_as(self, job_type: type[J], identity: str, *, max_age_seconds: float) -> J | None:
        """:meth:`pending` for a job of ``job_type`` (a chained step's upscale or swap)."""
        content = self._store.read(self._name(identity))
        if not content:
            return None
        try:
            job = job_type.model_validate_json(content)
        except ValueError:
            return None
        if time.time() - job.started_at >= max_age_seconds:
            self.settle(identity)
            return None
        return job

    def record(self, identity: str, job: StartedJob) -> None:
        """Write ``job`` down before waiting for it."""
        try:
            self._store.write(self._name(identity), job.model_dump_json().encode())
        except Exception as exc:
            # The journal only saves credits on a crash; it must never fail a run.
            logger.warning("Could not record %s in the journal: %s", job.label, exc)

    def settle(self, identity: str) -> None:
        """Forget ``identity``: its output was delivered, failed, or can no longer come."""
        try:
            self._store.delete(self._name(identity))
        except Exception as exc:
            logger.warning("Could not settle a journal entry: %s", exc)


_blocks: dict[str, WritableFileSystem | None] = {}
_blocks_lock = threading.Lock()


def shared_storage_block() -> WritableFileSystem | None:
    """Prefect's default result storage block, if set; loaded once per process.

    A slug that cannot be loaded (unknown block, server unreachable) is logged and gives
    ``None``: the journal falls back to the local folder rather than fail a run.
    """
    slug = get_current_settings().results.default_storage_block
    if not slug:
        return None
    with _blocks_lock:
        if slug not in _blocks:
            _blocks[slug] = _load_block(slug)
        return _blocks[slug]


def _load_block(slug: str) -> WritableFileSystem | None:
    from prefect.blocks.core import Block

    try:
        block = run_async(Block.aload, slug)
    except Exception as exc:
        logger.warning("Result storage block %r not loaded (journal stays local): %s", slug, exc)
        return None
    if not isinstance(block, WritableFileSystem):
        logger.warning("Block %r is not a writable filesystem (journal stays local)", slug)
        return None
    return block


def default_journal() -> JobJournal:
    """The journal beside the result cache: in Prefect's default result storage block
    when one is set, else at ``PIKTID_JOURNAL_DIR`` (default ``~/.piktid-prefect/journal``)."""
    block = shared_storage_block()
    if block is not None:
        return JobJournal(block)
    folder = os.environ.get("PIKTID_JOURNAL_DIR") or "~/.piktid-prefect/journal"
    return JobJournal(Path(folder).expanduser())
