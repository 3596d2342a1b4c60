"""The journal of paid starts on shared storage: in Prefect's default result storage
block, beside the result cache, so that workers on other machines see it too."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from prefect.filesystems import LocalFileSystem, RemoteFileSystem
from prefect.settings import PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK, temporary_settings

from piktid_prefect.runtime.journal import JOURNAL_PREFIX, JobJournal, default_journal
from piktid_prefect.wire.models import GenerationJob


def a_job() -> GenerationJob:
    return GenerationJob(
        kind="person",
        image_id="img-1",
        person_id=0,
        keyword={"Location": "Oceania"},
        seed=7,
        started_at=time.time(),
    )


def test_a_start_recorded_on_one_machine_is_pending_on_another(tmp_path: Path) -> None:
    # Two workers load the same block document: two block objects, one shared folder.
    here = JobJournal(LocalFileSystem(basepath=str(tmp_path)))
    there = JobJournal(LocalFileSystem(basepath=str(tmp_path)))
    job = a_job()

    here.record("output-1", job)

    assert there.pending("output-1", max_age_seconds=600) == job
    there.settle("output-1")
    assert here.pending("output-1", max_age_seconds=600) is None
    assert list((tmp_path / JOURNAL_PREFIX).iterdir()) == []  # a local folder is cleaned


def test_a_settled_entry_in_a_block_that_cannot_delete_reads_as_no_entry() -> None:
    block = RemoteFileSystem(basepath=f"memory://journal-{uuid.uuid4().hex}")
    journal = JobJournal(block)
    journal.record("output-1", a_job())

    journal.settle("output-1")

    assert journal.pending("output-1", max_age_seconds=600) is None
    assert block.read_path(f"{JOURNAL_PREFIX}/output-1.json") == b""  # a sync test: sync call


def test_an_entry_too_old_to_be_notified_is_not_pending(tmp_path: Path) -> None:
    journal = JobJournal(LocalFileSystem(basepath=str(tmp_path)))
    journal.record("output-1", a_job().model_copy(update={"started_at": time.time() - 700}))

    assert journal.pending("output-1", max_age_seconds=600) is None


def test_the_default_journal_lives_in_prefects_default_result_storage_block(
    tmp_path: Path,
) -> None:
    name = f"shared-{uuid.uuid4().hex[:8]}"
    LocalFileSystem(basepath=str(tmp_path / "shared")).save(name)
    local = Path(os.environ["PIKTID_JOURNAL_DIR"])  # set for the whole test session

    with temporary_settings({PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK: f"local-file-system/{name}"}):
        default_journal().record("output-shared", a_job())

    assert (tmp_path / "shared" / JOURNAL_PREFIX / "output-shared.json").is_file()
    assert not (local / "output-shared.json").exists()


def test_a_storage_block_that_cannot_be_loaded_leaves_the_journal_local() -> None:
    missing = f"local-file-system/missing-{uuid.uuid4().hex[:8]}"
    local = Path(os.environ["PIKTID_JOURNAL_DIR"])

    with temporary_settings({PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK: missing}):
        default_journal().record("output-local", a_job())

    assert (local / "output-local.json").is_file()
    JobJournal(local).settle("output-local")
