"""The single-step tasks, composed by hand in user flows (sync and async)."""

from __future__ import annotations

import inspect
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from prefect import flow
from prefect.filesystems import LocalFileSystem

from piktid_prefect.flows import generate_people
from piktid_prefect.runtime.results import GenerationSpec
from piktid_prefect.tasks import async_steps as async_tasks
from piktid_prefect.tasks import (
    await_notification,
    download_result,
    generate_output,
    start_person_generation,
    upload_image,
)
from piktid_prefect.tasks import steps as tasks
from piktid_prefect.tasks.async_steps import (
    aawait_notification,
    adownload_result,
    agenerate_output,
    astart_background_edit,
    astart_person_generation,
    aupload_image,
)
from piktid_prefect.wire.errors import GenerationFailed
from tests.prefect.helpers import requests_to


def test_sync_steps_compose_upload_start_wait(
    credentials, piktid_emulator, piktid_account, samples, time_scale
) -> None:
    @flow
    def by_hand() -> tuple[str, str]:
        uploaded = upload_image(credentials, str(samples["astronaut"]))
        job = start_person_generation(credentials, uploaded, 0, {"Location": "Oceania"})
        note = await_notification(credentials, job, timeout_seconds=600 * time_scale)
        return uploaded.image_id, note.links[0].url

    image_id, link = by_hand()
    assert link.startswith(piktid_emulator.base_url.rsplit("/api", 1)[0])
    stats = piktid_emulator.stats(piktid_account.email)
    assert stats.credits_charged == 1 and stats.notifications_deleted == 1
    assert image_id


async def test_async_twins_compose_and_share_the_cache(
    credentials, piktid_emulator, piktid_account, samples, tmp_path, time_scale
) -> None:
    @flow
    async def by_hand_async() -> tuple[Path, str]:
        uploaded = await aupload_image(credentials, str(samples["grace_hopper"]))
        job = await astart_background_edit(
            credentials, uploaded, {"seasonal": "Winter"}, options={"seed": 3}
        )
        note = await aawait_notification(credentials, job, timeout_seconds=600 * time_scale)
        person_job = await astart_person_generation(
            credentials, uploaded, 0, {"Location": "Oceania"}, options={"seed": 4}
        )
        person_note = await aawait_notification(
            credentials, person_job, timeout_seconds=600 * time_scale
        )
        assert person_note.name == "edit_generate" and person_note.links
        spec = GenerationSpec(kind="person", person_id=0, keyword={"Location": "Africa"})
        result = await agenerate_output(
            credentials, uploaded, spec, timeout_seconds=600 * time_scale
        )
        record = await adownload_result(credentials, result, str(tmp_path))
        again = await aupload_image(credentials, str(samples["grace_hopper"]))
        assert again.image_id == uploaded.image_id  # cached: no second upload
        return Path(record.path), note.links[0].url

    path, link = await by_hand_async()
    with Image.open(path) as picture:
        picture.load()
    stats = piktid_emulator.stats(piktid_account.email)
    assert stats.credits_charged == 3
    assert requests_to(stats, "/edit/target") == 1
    assert link


def test_error_notification_fails_the_wait_with_its_message(
    credentials, piktid_emulator, piktid_account, samples, time_scale
) -> None:
    from piktid_prefect.emulator import FaultConfig

    piktid_emulator.set_faults(FaultConfig(error_notification=1.0))

    @flow
    def failing() -> None:
        uploaded = upload_image(credentials, str(samples["astronaut"]))
        spec = GenerationSpec(kind="person", person_id=0, keyword={"Location": "Oceania"})
        generate_output(credentials, uploaded, spec, timeout_seconds=600 * time_scale)

    with pytest.raises(GenerationFailed, match="person=0 Location=Oceania"):
        failing()


def test_expired_upload_is_uploaded_again_by_itself(
    credentials, piktid_emulator, piktid_account, samples, tmp_path, time_scale
) -> None:
    first = generate_people(
        image=str(samples["astronaut"]),
        keywords=[{"Location": "Oceania"}],
        credentials=credentials,
        out_dir=str(tmp_path),
        timeout_seconds=600 * time_scale,
    )
    piktid_emulator.advance(25 * 3600)  # PiktID deletes uploads after 24 h

    again = generate_people(
        image=str(samples["astronaut"]),
        keywords=[{"Location": "Oceania"}, {"Location": "East Asia"}],
        credentials=credentials,
        out_dir=str(tmp_path),
        stagger_seconds=15 * time_scale,
        timeout_seconds=600 * time_scale,
    )
    stats = piktid_emulator.stats(piktid_account.email)
    assert requests_to(stats, "/edit/target") == 2
    assert stats.credits_charged == 2  # Oceania was not paid again
    new_ids = {o.id_image for o in again.outputs if o.keyword["Location"] == "East Asia"}
    assert new_ids and new_ids != {first.outputs[0].id_image}


def test_download_to_a_prefect_filesystem_block(credentials, samples, tmp_path, time_scale) -> None:
    storage = LocalFileSystem(basepath=str(tmp_path / "bucket"))

    @flow
    def to_block() -> str:
        uploaded = upload_image(credentials, str(samples["astronaut"]))
        spec = GenerationSpec(kind="background", keyword={"florals": "Roses"}, options={"seed": 9})
        result = generate_output(credentials, uploaded, spec, timeout_seconds=600 * time_scale)
        return download_result(credentials, result, storage).path

    name = to_block()
    written = tmp_path / "bucket" / name
    assert name == "astronaut_bg_florals-Roses_s9.jpg"
    with Image.open(written) as picture:
        picture.load()


@pytest.mark.parametrize("name", tasks.__all__)
def test_every_task_has_an_async_twin_with_the_same_declaration(name: str) -> None:
    sync_task = getattr(tasks, name)
    twin = getattr(async_tasks, f"a{name}")
    assert twin.isasync and not sync_task.isasync
    assert inspect.signature(twin.fn) == inspect.signature(sync_task.fn)
    for option in ("name", "cache_key_fn", "cache_expiration", "retries", "retry_condition_fn"):
        assert getattr(twin, option) == getattr(sync_task, option), option
    assert twin.cache_policy == sync_task.cache_policy
    assert twin.task_key != sync_task.task_key


@pytest.mark.parametrize(
    "cached_task", [generate_output, upload_image, agenerate_output, aupload_image]
)
def test_cached_results_stay_out_of_prefects_shared_in_memory_cache(
    cached_task: Any, tmp_path: Path
) -> None:
    """Prefect's result stores share one LRU cache that is not thread-safe: concurrent
    task runs evicting from it failed a commit in a 5,088-output batch. Results of the
    cached tasks are on disk only, so 8 threads persisting 1,600 records never touch it."""
    from cachetools import LRUCache
    from prefect.results import ResultStore

    shared = LRUCache(maxsize=20)
    store = ResultStore(
        result_storage=LocalFileSystem(basepath=str(tmp_path)), cache=shared
    ).update_for_task(cached_task)
    errors: list[BaseException] = []

    def persist(thread: int) -> None:
        for n in range(200):
            try:
                record = store.create_result_record({"n": n}, key=f"{thread}-{n}")
                store.persist_result_record(record)
            except Exception as exc:  # the KeyError of a racing eviction
                errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: the race shows
    try:
        threads = [threading.Thread(target=persist, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert len(shared) == 0
    assert len(list(tmp_path.iterdir())) == 1600  # every result is on disk
