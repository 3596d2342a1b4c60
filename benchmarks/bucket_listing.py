"""Issue 22's storage figures, against a local S3 server (moto) on loopback.

    python benchmarks/bucket_listing.py                      # ~3-6 minutes on 2 cores
    python benchmarks/bucket_listing.py --sizes 500 5000     # listing sizes only these
    python benchmarks/bucket_listing.py --photos 1000        # a smaller scheduled run

Not a timed test: it prints figures and ratios (and writes them to
``benchmarks/results/bucket_listing.md``).

1. **Listing cost per object** at 500 / 5,000 / 20,000 objects: ``list_images`` of a
   prefect-aws ``S3Bucket`` (tiny objects: a listing never reads them), median of 3.
2. **A scheduled run over an unchanged bucket** of ``--photos`` photos whose outputs are
   in the output location (``manifest.d/`` entries compacted into ``manifest.json``):
   list the inbox, read the manifest view, find what is pending. Wall time, S3 requests
   and bytes downloaded, counted from moto's own access log (bytes: the sizes of the
   objects it served, from a listing of the bucket).
3. **The same with 50 new photos** among them, which are then read (downloaded) and
   recorded, and the manifest compacted: what that run costs before any PiktID call.
4. **The old way, for scale**: ``S3Bucket.get_directory`` of the inbox (what
   ``process_new_images`` does today on every run), at the photos' size here.

Photos here are small (``--photo-bytes``, 20 KB) to keep the run short; the listing
figures do not depend on it, and downloads scale with it linearly.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from piktid_prefect.runtime.results import OutputRecord  # noqa: E402
from piktid_prefect.storage import (  # noqa: E402
    list_images,
    open_output_location,
    pending_entries,
    read_entry,
    wanted_pairs,
)
from tests.helpers.moto_s3 import MotoS3, S3Request, moto_s3  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "bucket_listing.md"
WANTED = wanted_pairs([{"Location": "Oceania"}], [])
THREADS = 8
NEW_PHOTOS = 50


def put_many(moto: MotoS3, bucket: str, keys: Sequence[str], body: Callable[[int], bytes]) -> None:
    client = moto.client()
    with ThreadPoolExecutor(THREADS) as pool:
        list(
            pool.map(
                lambda i: client.put_object(Bucket=bucket, Key=keys[i], Body=body(i)),
                range(len(keys)),
            )
        )


def sizes_by_key(moto: MotoS3, bucket: str) -> dict[str, int]:
    client = moto.client()
    found: dict[str, int] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        found.update((o["Key"], int(o["Size"])) for o in page.get("Contents", []))
    return found


def measured(
    moto: MotoS3, bucket: str, work: Callable[[], Any]
) -> tuple[float, list[S3Request], Any]:
    moto.settle(0.2)
    mark = moto.mark()
    began = time.perf_counter()
    value = work()
    seconds = time.perf_counter() - began
    moto.settle(0.2)
    return seconds, moto.since(mark, bucket), value


def downloaded(requests: list[S3Request], sizes: dict[str, int], prefix: str = "") -> int:
    return sum(
        sizes.get(r.key, 0) for r in requests if r.is_object_read and r.key.startswith(prefix)
    )


def listing_cost(moto: MotoS3, sizes: Sequence[int]) -> list[str]:
    lines = [
        "| objects | LIST requests | median s | µs per object | per object vs smallest"
        " | moto's floor per LIST (MaxKeys=1), s | µs per object without that floor |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    first: float | None = None
    for count in sizes:
        bucket = moto.new_bucket("listing")
        put_many(moto, bucket, [f"inbox/{i:06d}.jpg" for i in range(count)], lambda i: b"x")
        block = moto.s3_bucket_block(bucket)
        runs = []
        requests: list[S3Request] = []
        for _ in range(3):
            seconds, requests, entries = measured(
                moto, bucket, partial(list_images, block, "inbox")
            )
            assert len(entries) == count
            runs.append(seconds)
        median = statistics.median(runs)
        per_object = median / count * 1e6
        first = first or per_object
        floor = moto_floor(moto, bucket)
        rest = (median - floor * len(requests)) / count * 1e6
        lines.append(
            f"| {count:,} | {len(requests)} | {median:.3f} | {per_object:.1f} |"
            f" {per_object / first:.2f} x | {floor:.3f} | {rest:.1f} |"
        )
        print(lines[-1], flush=True)
    return lines


def moto_floor(moto: MotoS3, bucket: str) -> float:
    """What moto spends on any LIST of this bucket, whatever the page: its
    ``list_objects`` walks and sorts every key of the bucket on each request
    (moto/s3/models.py), unlike S3. Measured with a one-key page, median of 3."""
    client = moto.client()
    runs = []
    for _ in range(3):
        began = time.perf_counter()
        client.list_objects_v2(Bucket=bucket, Prefix="inbox/", MaxKeys=1)
        runs.append(time.perf_counter() - began)
    return statistics.median(runs)


def record_for(entry: Any, data: bytes) -> OutputRecord:
    sha = hashlib.sha256(data).hexdigest()
    return OutputRecord(
        path=f"s3://out/{entry.stem}_p0_oceania_s1.jpg",
        id_image="img-" + entry.stem,
        image=entry.stem,
        image_sha256=sha,
        kind="person",
        person=0,
        keyword={"Location": "Oceania"},
        seed=1,
        link="https://results.example/" + "x" * 180,
        seconds=20.0,
        sha256=sha,
        source_key=entry.key,
    )


def scheduled_runs(moto: MotoS3, photos: int, photo_bytes: int) -> list[str]:
    bucket = moto.new_bucket("studio")
    body = lambda i: i.to_bytes(4, "big") * (photo_bytes // 4)  # noqa: E731
    put_many(moto, bucket, [f"inbox/{i:05d}.jpg" for i in range(photos)], body)
    inbox = moto.s3_bucket_block(bucket)
    out = open_output_location("out", moto.s3_bucket_block(bucket))

    def deliver(entries: list[Any]) -> None:
        def one(entry: Any) -> None:
            out.manifest.record_output(record_for(entry, read_entry(entry)))

        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(one, entries))

    # What earlier runs left: every photo done, its entry compacted into manifest.json.
    deliver(list_images(inbox, "inbox"))
    out.manifest.compact()

    def detect() -> tuple[Any, list[Any]]:
        view = out.manifest.read()
        entries = list_images(inbox, "inbox")
        return view, pending_entries(entries, view.manifest, WANTED, view.seen)

    before_unchanged = sizes_by_key(moto, bucket)
    unchanged_s, unchanged_req, (_, pending) = measured(moto, bucket, detect)
    assert pending == []
    put_many(
        moto,
        bucket,
        [f"inbox/new-{i:03d}.jpg" for i in range(NEW_PHOTOS)],
        lambda i: body(photos + i),
    )

    def detect_and_fetch() -> int:
        view, todo = detect()
        deliver(todo)  # read (download) each new photo; its output recorded as delivered
        out.manifest.compact(since=view)  # manifest.json is not read twice
        return len(todo)

    before_new = sizes_by_key(moto, bucket)
    new_s, new_req, new_count = measured(moto, bucket, detect_and_fetch)
    assert new_count == NEW_PHOTOS
    # manifest.json is read before the compaction rewrites it: its size before the run.
    after_new = {**sizes_by_key(moto, bucket), "out/manifest.json": before_new["out/manifest.json"]}

    with tempfile.TemporaryDirectory() as local:
        old_s, old_req, _ = measured(
            moto, bucket, lambda: inbox.get_directory(from_path="inbox", local_path=local)
        )

    def row(label: str, seconds: float, requests: list[S3Request], sizes: dict[str, int]) -> str:
        kinds = {
            "LIST": sum(r.is_listing for r in requests),
            "GET": sum(r.is_object_read for r in requests),
            "PUT": sum(r.method == "PUT" for r in requests),
            "other": sum(
                not (r.is_listing or r.is_object_read or r.method == "PUT") for r in requests
            ),
        }
        shown = ", ".join(f"{v} {k}" for k, v in kinds.items() if v)
        photos_read = downloaded(requests, sizes, "inbox/")
        return (
            f"| {label} | {seconds:.2f} | {len(requests)} ({shown}) | {photos_read:,} |"
            f" {downloaded(requests, sizes) - photos_read:,} |"
        )

    lines = [
        f"{photos:,} photos of {photo_bytes:,} bytes; manifest.json"
        f" {before_unchanged['out/manifest.json']:,} bytes ({photos:,} outputs)"
        f" before the first measured run.",
        "",
        "| run | wall s | S3 requests | photo bytes downloaded | other bytes downloaded |",
        "|---|---:|---|---:|---:|",
        row(f"unchanged bucket ({photos:,} photos)", unchanged_s, unchanged_req, before_unchanged),
        row(
            f"{NEW_PHOTOS} new among them: detect, download, record, compact",
            new_s,
            new_req,
            after_new,
        ),
        row("old way: get_directory of the inbox", old_s, old_req, after_new),
    ]
    for line in lines:
        print(line, flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 5000, 20000])
    parser.add_argument("--photos", type=int, default=5000)
    parser.add_argument("--photo-bytes", type=int, default=20_000)
    args = parser.parse_args()
    with moto_s3() as moto:
        print(f"moto_server at {moto.endpoint_url}; {os.cpu_count()} cores", flush=True)
        print("\n## Listing cost per object (S3Bucket, list_images)\n", flush=True)
        listing = listing_cost(moto, args.sizes)
        runs = []
        if args.photos:  # --photos 0: the listing figures only
            print("\n## Scheduled runs\n", flush=True)
            runs = scheduled_runs(moto, args.photos, args.photo_bytes)
    if not runs:
        return  # a partial run does not replace the recorded figures
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        f"# bucket_listing.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
        "## Listing cost per object (S3Bucket, list_images)\n\n"
        + "\n".join(listing)
        + "\n\n## Scheduled runs\n\n"
        + "\n".join(runs)
        + "\n"
    )
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
