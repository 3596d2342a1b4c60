"""The flows on a bucket (issue 22): photos listed in place, outputs written into the bucket.

Against moto's S3 server on loopback (``tests/storage/conftest.py``) and the emulator;
what reached the object store is counted from moto's own access log.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from piktid_prefect.emulator import EmulatorServer
from piktid_prefect.flows import batch_variations
from piktid_prefect.flows.inbox import process_new_images
from piktid_prefect.storage import MANIFEST_NAME
from tests.helpers.moto_s3 import MotoS3

OCEANIA = {"Location": "Oceania"}
PHOTOS = ("astronaut", "grace_hopper")


@pytest.fixture(autouse=True)
def _on_the_prefect_harness(prefect_harness: Path) -> None:
    """The flows run through the suite's shared Prefect harness (the block is saved there)."""


@pytest.fixture
def block_name(s3_bucket_block: Any) -> str:
    name = f"bucket-{s3_bucket_block.bucket_name}"
    s3_bucket_block.save(name, overwrite=True)
    return f"s3-bucket/{name}"


def put_photos(moto: MotoS3, bucket: str, samples: dict[str, Path], *stems: str) -> None:
    client = moto.client()
    for stem in stems:
        client.put_object(Bucket=bucket, Key=f"inbox/{stem}.jpg", Body=samples[stem].read_bytes())


def keys(moto: MotoS3, bucket: str, prefix: str) -> set[str]:
    listed = moto.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {o["Key"] for o in listed.get("Contents", [])}


def read_manifest(moto: MotoS3, bucket: str) -> dict[str, Any]:
    body = moto.client().get_object(Bucket=bucket, Key=f"out/{MANIFEST_NAME}")["Body"].read()
    return dict(json.loads(body))


def run_inbox(block: str, credentials: Any, time_scale: float) -> Any:
    return process_new_images(
        inbox="inbox",
        storage_block=block,
        person_keywords=[OCEANIA],
        credentials=credentials,
        out_dir="out",
        output_storage_block=block,
        stagger_seconds=15.0 * time_scale,
        timeout_seconds=600.0 * time_scale,
    )


def test_a_bucket_inbox_writes_every_output_into_the_bucket_and_a_rerun_downloads_no_photo(
    moto: MotoS3,
    bucket: str,
    block_name: str,
    samples: dict[str, Path],
    credentials: Any,
    piktid_emulator: EmulatorServer,
    piktid_account: Any,
    time_scale: float,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # an output written locally by mistake would land here
    put_photos(moto, bucket, samples, *PHOTOS)

    first = run_inbox(block_name, credentials, time_scale)

    made = {Path(o.path).name for o in first.outputs}
    assert {o.image for o in first.outputs} == set(PHOTOS)
    assert all(o.path.startswith(f"s3://{bucket}/out/") for o in first.outputs)
    assert {f"out/{name}" for name in made} <= keys(moto, bucket, "out/")
    manifest = read_manifest(moto, bucket)
    assert sorted(Path(o["path"]).name for o in manifest["outputs"]) == sorted(made)
    assert first.manifest_path == f"s3://{bucket}/out/{MANIFEST_NAME}"
    charged = piktid_emulator.stats(piktid_account.email).credits_charged
    assert charged == len(made)
    assert list(tmp_path.iterdir()) == []

    moto.settle()
    mark = moto.mark()
    again = run_inbox(block_name, credentials, time_scale)
    moto.settle()

    since = moto.since(mark, bucket)
    assert again.outputs == []
    assert [r.key for r in since if r.key.startswith("inbox/") and r.is_object_read] == []
    assert [r for r in since if r.method == "PUT"] == []  # nothing written either
    assert piktid_emulator.stats(piktid_account.email).credits_charged == charged


def test_a_photo_added_to_the_bucket_is_the_only_one_downloaded(
    moto: MotoS3,
    bucket: str,
    block_name: str,
    samples: dict[str, Path],
    credentials: Any,
    piktid_emulator: EmulatorServer,
    piktid_account: Any,
    time_scale: float,
) -> None:
    put_photos(moto, bucket, samples, "astronaut")
    run_inbox(block_name, credentials, time_scale)
    put_photos(moto, bucket, samples, "grace_hopper")
    moto.settle()
    mark = moto.mark()

    second = run_inbox(block_name, credentials, time_scale)
    moto.settle()

    reads = [r.key for r in moto.since(mark, bucket) if r.is_object_read]
    assert [k for k in reads if k.startswith("inbox/")] == ["inbox/grace_hopper.jpg"]
    assert {o.image for o in second.outputs} == {"grace_hopper"}
    manifest = read_manifest(moto, bucket)
    assert sorted({o["image"] for o in manifest["outputs"]}) == sorted(PHOTOS)
    assert piktid_emulator.stats(piktid_account.email).credits_charged == len(manifest["outputs"])


def test_batch_variations_into_a_bucket_is_not_paid_again_on_a_rerun(
    moto: MotoS3,
    bucket: str,
    block_name: str,
    samples: dict[str, Path],
    credentials: Any,
    piktid_emulator: EmulatorServer,
    piktid_account: Any,
    time_scale: float,
) -> None:
    def run() -> Any:
        return batch_variations(
            images=[str(samples["astronaut"])],
            person_keywords=[OCEANIA],
            credentials=credentials,
            out_dir="out",
            output_storage_block=block_name,
            stagger_seconds=15.0 * time_scale,
            timeout_seconds=600.0 * time_scale,
        )

    first = run()
    charged = piktid_emulator.stats(piktid_account.email).credits_charged
    moto.settle()
    mark = moto.mark()
    second = run()
    moto.settle()

    assert charged == len(first.outputs) >= 1
    # preflight found them delivered in the bucket: nothing paid, no image written again
    assert piktid_emulator.stats(piktid_account.email).credits_charged == charged
    assert sorted(o.path for o in second.outputs) == sorted(o.path for o in first.outputs)
    written = {r.key for r in moto.since(mark, bucket) if r.method == "PUT"}
    assert written <= {f"out/{MANIFEST_NAME}"}  # the run's credits line, compacted
