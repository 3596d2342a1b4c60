"""The inbox *flow* on an unchanged bucket: what a scheduled run downloads (issue 22).

    python benchmarks/bucket_inbox_flow.py                 # 5,000 photos, ~3-5 minutes
    python benchmarks/bucket_inbox_flow.py --photos 500

``benchmarks/bucket_listing.py`` measures the storage calls; this runs
``process_new_images`` itself (on Prefect's test harness) with ``storage_block`` and
``output_storage_block`` naming one prefect-aws ``S3Bucket`` on moto (loopback), over
``--photos`` photos whose outputs are all in the output location's ``manifest.json``
(set up as ``bucket_listing.py`` does). Requests and bytes are counted from moto's
access log. Results are appended to ``benchmarks/results/bucket_listing.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bucket_listing import (  # noqa: E402
    RESULTS,
    THREADS,
    downloaded,
    measured,
    put_many,
    record_for,
    sizes_by_key,
)
from piktid_prefect.storage import list_images, open_output_location, read_entry  # noqa: E402
from tests.helpers.moto_s3 import MotoS3, moto_s3  # noqa: E402


def prepared_bucket(moto: MotoS3, photos: int, photo_bytes: int) -> tuple[str, Any]:
    """A bucket whose inbox photos all have their output recorded and compacted."""
    from concurrent.futures import ThreadPoolExecutor

    bucket = moto.new_bucket("studio")
    body = lambda i: i.to_bytes(4, "big") * (photo_bytes // 4)  # noqa: E731
    put_many(moto, bucket, [f"inbox/{i:05d}.jpg" for i in range(photos)], body)
    block = moto.s3_bucket_block(bucket)
    out = open_output_location("out", block)
    with ThreadPoolExecutor(THREADS) as pool:
        list(
            pool.map(
                lambda e: out.manifest.record_output(record_for(e, read_entry(e))),
                list_images(block, "inbox"),
            )
        )
    out.manifest.compact()
    return bucket, block


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=5000)
    parser.add_argument("--photo-bytes", type=int, default=20_000)
    args = parser.parse_args()
    from prefect.testing.utilities import prefect_test_harness

    from piktid_prefect.flows.inbox import process_new_images

    with moto_s3() as moto, prefect_test_harness(server_startup_timeout=120):
        bucket, block = prepared_bucket(moto, args.photos, args.photo_bytes)
        block.save("bench-bucket", overwrite=True)
        sizes = sizes_by_key(moto, bucket)

        def run() -> Any:
            return process_new_images(
                inbox="inbox",
                storage_block="s3-bucket/bench-bucket",
                person_keywords=[{"Location": "Oceania"}],
                out_dir="out",
                output_storage_block="s3-bucket/bench-bucket",
            )

        seconds, requests, result = measured(moto, bucket, run)
    assert result.outputs == [], result
    photos_read = downloaded(requests, sizes, "inbox/")
    lines = [
        f"`process_new_images` (the flow, on Prefect's test harness) over {args.photos:,}"
        f" photos of {args.photo_bytes:,} bytes, all done (manifest.json"
        f" {sizes['out/manifest.json']:,} bytes):",
        "",
        "| run | wall s | S3 requests | photo bytes downloaded | other bytes downloaded |",
        "|---|---:|---|---:|---:|",
        f"| unchanged bucket, the flow | {seconds:.2f} | {len(requests)}"
        f" ({sum(r.is_listing for r in requests)} LIST,"
        f" {sum(r.is_object_read for r in requests)} GET,"
        f" {sum(r.method == 'PUT' for r in requests)} PUT) | {photos_read:,} |"
        f" {downloaded(requests, sizes) - photos_read:,} |",
    ]
    print("\n".join(lines))
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with RESULTS.open("a") as results:
        results.write(f"\n## The inbox flow (bucket_inbox_flow.py, {stamp})\n\n")
        results.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
