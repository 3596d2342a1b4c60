"""Issue 24 on a real ``prefect server``: the batch deployment with ``then`` chains an
upscale and an identity swap after each of 8 variations, each paid once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from piktid_prefect.credentials import PiktidCredentials
from piktid_prefect.demo import sample_images
from tests.e2e.test_deployments import api, fast, trigger, wait_for

pytestmark = pytest.mark.e2e

CHAIN = [{"step": "upscale", "scale_factor": 2}, {"step": "identity", "identity_name": "grace"}]


def _two_group_photos(folder: Path) -> list[str]:
    """Two different photos with (at least) two persons each: the group photo, and it mirrored."""
    group = next(p for p in sample_images() if p.stem == "group_of_three")
    mirrored = folder / "group_mirrored.jpg"
    with Image.open(group) as picture:
        ImageOps.mirror(picture).save(mirrored, quality=92)
    return [str(group), str(mirrored)]


def test_batch_of_2_photos_2_persons_2_keywords_upscaled_and_swapped_pays_each_step_once(
    prefect_stack, tmp_path: Path
) -> None:
    emulator, account = prefect_stack.emulator, prefect_stack.account
    creds = PiktidCredentials(
        base_url=account.base_url, email=account.email, password=account.password
    )
    with creds.get_client() as client:
        client.upload_face(next(p for p in sample_images() if p.stem == "grace_hopper"),
                           identity_name="grace")  # fmt: skip
    out = tmp_path / "out"
    parameters = fast(
        prefect_stack,
        images=_two_group_photos(tmp_path),
        person_keywords=[{"Location": "Oceania"}, {"Location": "East Asia"}],
        persons=[0, 1],
        out_dir=str(out),
        concurrency_limit=None,
        then=CHAIN,
    )
    before = dict(emulator.stats(account.email).credits_charged_by_endpoint)

    with api(prefect_stack) as client:
        began = time.monotonic()
        (run,) = wait_for(client, trigger(client, "piktid-batch-variations/piktid-batch",
                                          parameters).id)  # fmt: skip
        seconds = time.monotonic() - began
        first = dict(emulator.stats(account.email).credits_charged_by_endpoint)
        (again,) = wait_for(client, trigger(client, "piktid-batch-variations/piktid-batch",
                                            parameters).id)  # fmt: skip

    assert run.state is not None and run.state.is_completed(), run.state
    assert again.state is not None and again.state.is_completed(), again.state
    outputs = json.loads((out / "manifest.json").read_text())["outputs"]
    steps = [step for output in outputs for step in output["chain"]]
    assert len(outputs) == 8
    assert sorted(s["step"] for s in steps) == ["identity grace"] * 8 + ["upscale x2"] * 8
    assert all(Path(s["path"]).is_file() for s in steps)
    paid = {k: v - before.get(k, 0) for k, v in first.items() if v - before.get(k, 0)}
    assert paid == {"/edit/generate": 8, "/superid/v2": 2.0, "/consistent_identities/generate": 8}
    assert emulator.stats(account.email).credits_charged_by_endpoint == first  # re-run: 0
    print(f"8 variations + 8 upscales x2 + 8 swaps: {paid}, {seconds:.1f} s end to end")
