"""The flows on a bucket (issue 22): photos listed in place, outputs written into the bucket.

Against moto's S3 server on loopback (``tests/storage/conftest.py``) and the emulator;
what reached the object store is counted from moto's own access log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from piktid_prefect.emulator import EmulatorServer
from piktid_prefect.flows import batch_variations
from piktid_prefect.flows.inbox import process_new_images
from piktid_prefect.storage import MANIFEST_NAME
from tests.helpers.moto_s3 import MotoS3, S3Request

OCEANIA = {"Location": "Oceania"}
PHOTOS = ("astronaut", "grace_hopper")


@pytest.fixture(autouse=True)
def _on_the_prefect_harness(prefect_harness: Path) -> None:
    """The flows run through the suite's shared Prefect harness (the block is saved there)."""


@dataclass
class Studio:
    """A bucket with a saved ``S3Bucket`` block, an emulator account, and the flows on them."""

    moto: MotoS3
    bucket: str
    block: str
    samples: dict[str, Path]
    credentials: Any
    emulator: EmulatorServer
    email: str
    time_scale: float

    def put_photos(self, *stems: str) -> None:
        for stem in stems:
            body = self.samples[stem].read_bytes()
            self.moto.client().put_object(Bucket=self.bucket, Key=f"inbox/{stem}.jpg", Body=body)

    def keys(self, prefix: str) -> set[str]:
        listed = self.moto.client().list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return {o["Key"] for o in listed.get("Contents", [])}

    def manifest(self) -> dict[str, Any]:
        got = self.moto.client().get_object(Bucket=self.bucket, Key=f"out/{MANIFEST_NAME}")
        return dict(json.loads(got["Body"].read()))

    def charged(self) -> int:
        return int(self.emulator.stats(self.email).credits_charged)

    def requests_during(self, run: Any) -> tuple[Any, list[S3Request]]:
        self.moto.settle()
        mark = self.moto.mark()
        result = run()
        self.moto.settle()
        return result, self.moto.since(mark, self.bucket)

    def timing(self) -> dict[str, Any]:
        return {
            "credentials": self.credentials,
            "stagger_seconds": 15.0 * self.time_scale,
            "timeout_seconds": 600.0 * self.time_scale,
        }

    def run_inbox(self) -> Any:
        return process_new_images(
            inbox="inbox",
            storage_block=self.block,
            person_keywords=[OCEANIA],
            out_dir="out",
            output_storage_block=self.block,
            **self.timing(),
        )

    def run_batch(self) -> Any:
        return batch_variations(
            images=[str(self.samples["astronaut"])],
            person_keywords=[OCEANIA],
            out_dir="out",
            output_storage_block=self.block,
            **self.timing(),
        )


@pytest.fixture
def studio(
    moto: MotoS3,
    bucket: str,
    s3_bucket_block: Any,
    samples: dict[str, Path],
    credentials: Any,
    piktid_emulator: EmulatorServer,
    piktid_account: Any,
    time_scale: float,
) -> Studio:
    name = f"bucket-{bucket}"
    s3_bucket_block.save(name, overwrite=True)
    return Studio(
        moto,
        bucket,
        f"s3-bucket/{name}",
        samples,
        credentials,
        piktid_emulator,
        piktid_account.email,
        time_scale,
    )


def test_a_bucket_inbox_writes_every_output_into_the_bucket_and_a_rerun_downloads_no_photo(
    studio: Studio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # an output written locally by mistake would land here
    studio.put_photos(*PHOTOS)

    first = studio.run_inbox()

    made = {Path(o.path).name for o in first.outputs}
    assert {o.image for o in first.outputs} == set(PHOTOS)
    assert all(o.path.startswith(f"s3://{studio.bucket}/out/") for o in first.outputs)
    assert {f"out/{name}" for name in made} <= studio.keys("out/")
    manifest = studio.manifest()
    assert sorted(Path(o["path"]).name for o in manifest["outputs"]) == sorted(made)
    assert first.manifest_path == f"s3://{studio.bucket}/out/{MANIFEST_NAME}"
    charged = studio.charged()
    assert charged == len(made)
    assert list(tmp_path.iterdir()) == []

    again, requests = studio.requests_during(studio.run_inbox)

    assert again.outputs == []
    assert [r.key for r in requests if r.key.startswith("inbox/") and r.is_object_read] == []
    assert [r for r in requests if r.method == "PUT"] == []  # nothing written either
    assert studio.charged() == charged


def test_a_photo_added_to_the_bucket_is_the_only_one_downloaded(studio: Studio) -> None:
    studio.put_photos("astronaut")
    studio.run_inbox()
    studio.put_photos("grace_hopper")

    second, requests = studio.requests_during(studio.run_inbox)

    reads = [r.key for r in requests if r.is_object_read and r.key.startswith("inbox/")]
    assert reads == ["inbox/grace_hopper.jpg"]
    assert {o.image for o in second.outputs} == {"grace_hopper"}
    manifest = studio.manifest()
    assert sorted({o["image"] for o in manifest["outputs"]}) == sorted(PHOTOS)
    assert studio.charged() == len(manifest["outputs"])


def test_batch_variations_into_a_bucket_is_not_paid_again_on_a_rerun(studio: Studio) -> None:
    first = studio.run_batch()
    charged = studio.charged()

    second, requests = studio.requests_during(studio.run_batch)

    assert charged == len(first.outputs) >= 1
    # preflight found them delivered in the bucket: nothing paid, no image written again
    assert studio.charged() == charged
    assert sorted(o.path for o in second.outputs) == sorted(o.path for o in first.outputs)
    written = {r.key for r in requests if r.method == "PUT"}
    assert written <= {f"out/{MANIFEST_NAME}"}  # the run's credits line, compacted
