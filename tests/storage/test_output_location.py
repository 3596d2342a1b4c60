"""Outputs and the manifest in a local folder or a bucket; two writers lose nothing."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest
from prefect.filesystems import RemoteFileSystem

from piktid_prefect.runtime.results import Manifest, RejectedImage
from piktid_prefect.storage import ManifestLog, OutputLocation, open_output_location
from tests.helpers.moto_s3 import MotoS3
from tests.storage._records import record


@pytest.fixture(params=["local", "s3", "s3fs"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> OutputLocation:
    """The same folder three ways: local, prefect-aws S3Bucket, RemoteFileSystem on s3://."""
    if request.param == "local":
        return open_output_location(str(tmp_path / "out"))
    if request.param == "s3":
        return open_output_location("studio/out", request.getfixturevalue("s3_bucket_block"))
    pytest.importorskip("s3fs")
    moto: MotoS3 = request.getfixturevalue("moto")
    bucket = request.getfixturevalue("bucket")
    block = RemoteFileSystem(basepath=f"s3://{bucket}", settings=moto.s3fs_options())
    return open_output_location("studio/out", block)


def test_images_are_written_whole_and_say_where_they_are(
    location: OutputLocation, tmp_path: Path
) -> None:
    where = location.write_image("a_p0_oceania_s1.jpg", b"jpeg bytes")
    assert location.read("a_p0_oceania_s1.jpg") == b"jpeg bytes"
    assert location.image_names() == {"a_p0_oceania_s1.jpg"}
    if location.local:
        assert where == str(tmp_path / "out" / "a_p0_oceania_s1.jpg")
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_p0_oceania_s1.jpg"]
    else:
        assert where.startswith("s3://") and where.endswith("/studio/out/a_p0_oceania_s1.jpg")
    assert location.manifest_uri == where.rsplit("/", 1)[0] + "/manifest.json"


def test_entries_are_read_before_and_after_compaction(location: OutputLocation) -> None:
    log = location.manifest
    log.record_outputs([record("a"), record("b")])
    log.record_rejected(RejectedImage(image="c", sha256="c" * 64, reason="no face"))
    log.record_seen("a.jpg#etag2", "f" * 64)
    view = log.read()
    assert [r.image for r in view.manifest.outputs] == ["a", "b"]
    assert set(view.manifest.rejected) == {"c" * 64}
    assert view.seen == {"a.jpg#etag2": "f" * 64}

    compacted = log.compact()
    body = location.read("manifest.json")
    assert body is not None
    # Readers of the old single-file format still read the outputs and rejections.
    old = Manifest.model_validate_json(body)
    assert [r.image for r in old.outputs] == ["a", "b"]
    assert set(old.rejected) == {"c" * 64}
    assert json.loads(body)["entries"] == sorted(compacted.entries)
    assert len(compacted.entries) == 4

    log.record_output(record("d"))  # after the compaction: still seen
    assert [r.image for r in log.read().manifest.outputs] == ["a", "b", "d"]


def test_an_image_with_outputs_is_no_longer_rejected(location: OutputLocation) -> None:
    log = location.manifest
    log.record_rejected(RejectedImage(image="a", sha256="a" * 64, reason="unreadable"))
    log.record_output(record("a", image_sha256="a" * 64))
    assert log.read().manifest.rejected == {}


def test_a_damaged_manifest_json_is_rebuilt_from_the_entries(location: OutputLocation) -> None:
    location.manifest.record_outputs([record("a"), record("b")])
    location.backend.write("manifest.json", b'{"outputs": [')  # cut short by hand
    assert [r.image for r in location.manifest.read().manifest.outputs] == ["a", "b"]
    location.manifest.compact()
    assert len(Manifest.model_validate_json(location.read("manifest.json") or b"").outputs) == 2


def test_a_local_manifest_leaves_no_temporary_file(tmp_path: Path) -> None:
    location = open_output_location(str(tmp_path / "out"))
    location.manifest.record_outputs([record("a"), record("b")])
    location.manifest.compact()
    names = sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*")
    )
    assert [n for n in names if ".tmp" in n] == []
    assert "manifest.json" in names


WRITERS, PER_WRITER = 2, 150


def write_and_compact(location: OutputLocation, writer: int) -> None:
    """What one worker does: deliver its outputs and compact now and then."""
    for i in range(PER_WRITER):
        location.manifest.record_output(record(f"w{writer}-{i:03d}"))
        if i % 25 == 24:
            location.manifest.compact()
    location.manifest.compact()


def expected_images() -> set[str]:
    return {f"w{w}-{i:03d}" for w in range(WRITERS) for i in range(PER_WRITER)}


def assert_nothing_lost(log: ManifestLog, compacted_body: bytes | None) -> None:
    assert {r.image for r in log.read().manifest.outputs} == expected_images()
    # The last compaction of each writer ran after its own last entry; a view may lack
    # the other's last ones, which the entries still hold (read() above).
    assert compacted_body is not None
    assert len(Manifest.model_validate_json(compacted_body).outputs) >= PER_WRITER


def test_two_threads_writing_one_location_lose_no_entry(location: OutputLocation) -> None:
    threads = [
        threading.Thread(target=write_and_compact, args=(location, w)) for w in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert_nothing_lost(location.manifest, location.read("manifest.json"))
    location.manifest.compact()  # one more, after both: the view is complete
    view = Manifest.model_validate_json(location.read("manifest.json") or b"")
    assert {r.image for r in view.outputs} == expected_images()


def _process_writer(storage: Any, out_dir: str, writer: int) -> None:
    write_and_compact(open_output_location(out_dir, storage), writer)


@pytest.mark.parametrize("where", ["local", "s3"])
def test_two_processes_writing_one_location_lose_no_entry(
    where: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if where == "local":
        storage, out_dir = None, str(tmp_path / "out")
    else:
        storage, out_dir = request.getfixturevalue("s3_bucket_block"), "out"
    spawn = multiprocessing.get_context("spawn")
    processes = [
        spawn.Process(target=_process_writer, args=(storage, out_dir, w)) for w in range(WRITERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=240)
        assert process.exitcode == 0
    location = open_output_location(out_dir, storage)
    assert_nothing_lost(location.manifest, location.read("manifest.json"))


@pytest.mark.slow
def test_a_saved_block_is_loaded_by_name(
    prefect_harness: Path, s3_bucket_block: Any, bucket: str
) -> None:
    s3_bucket_block.save("piktid-storage-test-out", overwrite=True)
    location = open_output_location("out", "s3-bucket/piktid-storage-test-out")
    assert location.write_image("x.jpg", b"x") == f"s3://{bucket}/out/x.jpg"


def test_a_manifest_written_before_the_entries_existed_is_read_and_kept(tmp_path: Path) -> None:
    """A local out_dir from before issue 22: manifest.json only, written by Manifest.write."""
    Manifest(
        outputs=[record("old")],
        rejected={"e" * 64: RejectedImage(image="bad", sha256="e" * 64, reason="no face")},
    ).write(tmp_path / "out")
    location = open_output_location(str(tmp_path / "out"))
    location.manifest.record_output(record("new"))
    view = location.manifest.compact()
    assert [r.image for r in view.manifest.outputs] == ["new", "old"]
    again = Manifest.model_validate_json(location.read("manifest.json") or b"")
    assert [r.image for r in again.outputs] == ["new", "old"] and set(again.rejected) == {"e" * 64}


def test_reading_since_a_view_fetches_only_newer_entries_not_the_manifest(
    moto: MotoS3, bucket: str, s3_bucket_block: Any
) -> None:
    location = open_output_location("out", s3_bucket_block)
    location.manifest.record_outputs([record("a"), record("b")])
    start = location.manifest.compact()
    other = open_output_location("out", moto.s3_bucket_block(bucket))  # another worker
    other.manifest.record_output(record("c"))
    moto.settle()
    mark = moto.mark()
    view = location.manifest.compact(since=start)
    moto.settle()
    reads = [r.key for r in moto.since(mark, bucket) if r.is_object_read]
    assert reads == [f"out/{sorted(view.entries - start.entries)[0]}"]  # c's entry only
    assert [r.image for r in view.manifest.outputs] == ["a", "b", "c"]
    assert [r.image for r in start.manifest.outputs] == ["a", "b"]  # left as it was
