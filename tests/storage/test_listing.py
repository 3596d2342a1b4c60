"""Listing an inbox without downloading it: local folders, fsspec on s3://, S3Bucket."""

from __future__ import annotations

import hashlib
import os
import pickle
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from prefect.filesystems import LocalFileSystem, RemoteFileSystem

from piktid_prefect.runtime.results import RejectedImage
from piktid_prefect.storage import (
    classify_content,
    list_images,
    open_output_location,
    pending_entries,
    read_entry,
    wanted_pairs,
)
from piktid_prefect.storage.listing import SourceEntry
from tests.helpers.moto_s3 import MotoS3
from tests.storage._records import record

WANTED = wanted_pairs([{"Location": "Oceania"}], [])


def fill_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.jpg").write_bytes(b"photo a")
    (folder / "b.PNG").write_bytes(b"photo bb")
    (folder / "notes.txt").write_bytes(b"not an image")
    (folder / "sub").mkdir(exist_ok=True)
    (folder / "sub" / "c.jpg").write_bytes(b"photo c")


def fill_bucket(moto: MotoS3, bucket: str, prefix: str) -> None:
    client = moto.client()
    for name, body in {
        "a.jpg": b"photo a",
        "b.PNG": b"photo bb",
        "notes.txt": b"not an image",
        "sub/c.jpg": b"photo c",
    }.items():
        client.put_object(Bucket=bucket, Key=f"{prefix}/{name}", Body=body)


def listed(entries: list[Any]) -> list[tuple[str, int]]:
    return [(e.name, e.size) for e in entries]


def test_a_local_folder_lists_its_top_level_images_with_size_and_mtime_token(
    tmp_path: Path,
) -> None:
    fill_folder(tmp_path / "inbox")
    for storage, folder in [
        (None, str(tmp_path / "inbox")),
        (str(tmp_path), "inbox"),
        (LocalFileSystem(basepath=str(tmp_path)), "inbox"),
    ]:
        entries = list_images(storage, folder)
        assert listed(entries) == [("a.jpg", 7), ("b.PNG", 8)]
        stat = (tmp_path / "inbox" / "a.jpg").stat()
        assert entries[0].token == f"{stat.st_mtime_ns}-7"
        assert read_entry(entries[0]) == b"photo a"
    assert listed(list_images(None, str(tmp_path / "inbox"), recursive=True))[-1] == (
        "sub/c.jpg",
        7,
    )


def test_a_touched_local_file_gets_a_new_key(tmp_path: Path) -> None:
    fill_folder(tmp_path)
    before = list_images(None, str(tmp_path))[0].key
    stat = (tmp_path / "a.jpg").stat()
    os.utime(tmp_path / "a.jpg", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert list_images(None, str(tmp_path))[0].key != before


def test_an_s3_bucket_block_lists_names_sizes_and_etags(
    moto: MotoS3, bucket: str, s3_bucket_block: Any
) -> None:
    fill_bucket(moto, bucket, "studio/inbox")
    entries = list_images(s3_bucket_block, "studio/inbox")
    assert listed(entries) == [("a.jpg", 7), ("b.PNG", 8)]
    assert entries[0].token == hashlib.md5(b"photo a").hexdigest()  # single-part ETag
    assert entries[0].uri == f"s3://{bucket}/studio/inbox/a.jpg"
    assert read_entry(entries[1]) == b"photo bb"
    # The block's own bucket_folder comes first.
    inside = moto.s3_bucket_block(bucket, folder="studio")
    assert listed(list_images(inside, "inbox")) == listed(entries)


def test_a_changed_object_gets_a_new_key_and_an_unchanged_one_keeps_it(
    moto: MotoS3, bucket: str, s3_bucket_block: Any
) -> None:
    fill_bucket(moto, bucket, "inbox")
    first = {e.name: e.key for e in list_images(s3_bucket_block, "inbox")}
    moto.client().put_object(Bucket=bucket, Key="inbox/a.jpg", Body=b"photo a, edited")
    second = {e.name: e.key for e in list_images(s3_bucket_block, "inbox")}
    assert first["a.jpg"] != second["a.jpg"]
    assert first["b.PNG"] == second["b.PNG"]


def test_remote_file_system_on_s3_lists_through_s3fs(moto: MotoS3, bucket: str) -> None:
    pytest.importorskip("s3fs")
    fill_bucket(moto, bucket, "inbox")
    block = RemoteFileSystem(basepath=f"s3://{bucket}", settings=moto.s3fs_options())
    entries = list_images(block, "inbox")
    assert listed(entries) == [("a.jpg", 7), ("b.PNG", 8)]
    assert entries[0].token == hashlib.md5(b"photo a").hexdigest()
    assert read_entry(entries[0]) == b"photo a"
    # A photo added after the first listing is seen (s3fs caches listings otherwise).
    moto.client().put_object(Bucket=bucket, Key="inbox/d.webp", Body=b"photo d")
    assert [e.name for e in list_images(block, "inbox")] == ["a.jpg", "b.PNG", "d.webp"]


def test_remote_file_system_on_any_fsspec_protocol() -> None:
    """fsspec's in-memory filesystem: no ETag, so the token is its creation time and size."""
    block = RemoteFileSystem(basepath="memory://piktid-listing-test")
    for name, body in {"a.jpg": b"photo a", "b.PNG": b"photo bb", "x.txt": b"no"}.items():
        block.filesystem.pipe_file(f"/piktid-listing-test/inbox/{name}", body)
    entries = list_images(block, "inbox")
    assert listed(entries) == [("a.jpg", 7), ("b.PNG", 8)]
    assert entries[0].token.endswith("-7")
    assert read_entry(entries[0]) == b"photo a"
    assert entries[0].uri == "memory:///piktid-listing-test/inbox/a.jpg"


def test_entries_settled_by_source_key_are_not_pending(tmp_path: Path) -> None:
    fill_folder(tmp_path)
    a, b = list_images(None, str(tmp_path))
    done = record("a", source_key=a.key, image_sha256=hashlib.sha256(b"photo a").hexdigest())
    skipped = RejectedImage(
        image="b",
        sha256=hashlib.sha256(b"photo bb").hexdigest(),
        reason="no face",
        source_key=b.key,
    )
    location = open_output_location(str(tmp_path / "out"))
    location.manifest.record_output(done)
    location.manifest.record_rejected(skipped)
    view = location.manifest.read()
    assert pending_entries([a, b], view.manifest, WANTED, view.seen) == []
    # A keyword not made yet makes the photo pending again (its bytes must be uploaded).
    more = wanted_pairs([{"Location": "Oceania"}, {"Location": "Africa"}], [])
    assert pending_entries([a, b], view.manifest, more, view.seen) == [a]


def test_a_touched_file_is_read_once_then_recognised_by_its_new_key(tmp_path: Path) -> None:
    fill_folder(tmp_path / "inbox")
    location = open_output_location(str(tmp_path / "out"))
    (entry,) = [e for e in list_images(None, str(tmp_path / "inbox")) if e.name == "a.jpg"]
    sha = hashlib.sha256(b"photo a").hexdigest()
    location.manifest.record_output(record("a", source_key=entry.key, image_sha256=sha))
    path = tmp_path / "inbox" / "a.jpg"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # same bytes
    (touched,) = [e for e in list_images(None, str(tmp_path / "inbox")) if e.name == "a.jpg"]
    view = location.manifest.read()
    assert pending_entries([touched], view.manifest, WANTED, view.seen) == [touched]
    digest, settled = classify_content(read_entry(touched), view.manifest, WANTED, view.seen)
    assert (digest, settled) == (sha, "done")  # no upload, no credit: record and move on
    location.manifest.record_seen(touched.key, digest)
    view = location.manifest.read()
    assert pending_entries([touched], view.manifest, WANTED, view.seen) == []


@pytest.mark.slow
def test_an_unchanged_bucket_downloads_nothing(moto: MotoS3, bucket: str) -> None:
    """1,001 photos (two listing pages): the second scheduled run reads 0 photo bytes."""
    client = moto.client()
    photos = 1001
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda i: client.put_object(Bucket=bucket, Key=f"in/{i:05d}.jpg", Body=b"p%d" % i),
                range(photos),
            )
        )
    inbox = moto.s3_bucket_block(bucket)
    out = open_output_location("out", moto.s3_bucket_block(bucket))

    def first_run(entry: SourceEntry) -> None:
        digest = hashlib.sha256(read_entry(entry)).hexdigest()
        out.manifest.record_output(
            record(entry.stem, source_key=entry.key, image_sha256=digest, path=entry.stem + ".jpg")
        )

    entries = list_images(inbox, "in")
    view = out.manifest.read()
    todo = pending_entries(entries, view.manifest, WANTED, view.seen)
    assert len(todo) == photos
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(first_run, todo))
    out.manifest.compact()

    moto.settle()
    mark = moto.mark()
    entries = list_images(inbox, "in")
    view = out.manifest.read()
    assert pending_entries(entries, view.manifest, WANTED, view.seen) == []
    moto.settle()
    requests = moto.since(mark, bucket)
    reads = [r for r in requests if r.is_object_read]
    assert [r.key for r in reads] == ["out/manifest.json"]  # no photo, no entry read
    assert sum(r.is_listing for r in requests) == 4  # inbox: 2 pages; manifest.d: 2 pages
    assert len(requests) == 5


def test_entries_pickle_and_read_after_unpickling(
    moto: MotoS3, bucket: str, s3_bucket_block: Any
) -> None:
    """Entries cross process boundaries (Dask workers, Prefect results): no boto3 client."""
    fill_bucket(moto, bucket, "inbox")
    (entry, _) = list_images(s3_bucket_block, "inbox")
    read_entry(entry)  # the client exists now
    copy = pickle.loads(pickle.dumps(entry))
    assert copy == entry and read_entry(copy) == b"photo a"
