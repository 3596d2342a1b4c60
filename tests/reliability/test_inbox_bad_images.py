"""One bad file must not block a scheduled inbox: it is skipped, named, and not retried
until it changes; the good photos are made on the first run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from piktid_prefect.emulator import EmulatorServer
from piktid_prefect.flows import batch_variations
from piktid_prefect.flows.inbox import process_new_images
from piktid_prefect.wire.errors import InvalidPerson

OCEANIA = {"Location": "Oceania"}


def landscape_without_people(path: Path) -> Path:
    gradient = np.tile(np.linspace(0, 255, 512, dtype=np.uint8), (512, 1))
    Image.fromarray(np.dstack([gradient, np.flipud(gradient), np.full_like(gradient, 90)])).save(
        path
    )
    return path


@pytest.fixture
def inbox(tmp_path: Path, samples: dict[str, Path]) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    shutil.copy(samples["astronaut"], folder / "astronaut.jpg")
    shutil.copy(samples["grace_hopper"], folder / "grace_hopper.jpg")
    landscape_without_people(folder / "landscape.png")
    data = samples["astronaut"].read_bytes()
    (folder / "cut.jpg").write_bytes(data[: len(data) // 2])
    return folder


def run_inbox(inbox: Path, out: Path, credentials, time_scale: float):  # type: ignore[no-untyped-def]
    return process_new_images(
        inbox=str(inbox),
        person_keywords=[OCEANIA],
        credentials=credentials,
        out_dir=str(out),
        stagger_seconds=15.0 * time_scale,
        timeout_seconds=600.0 * time_scale,
    )


def test_inbox_makes_the_good_photos_and_skips_the_bad_ones_by_name(
    inbox: Path,
    tmp_path: Path,
    credentials,
    piktid_emulator: EmulatorServer,
    piktid_account,
    time_scale: float,
) -> None:
    out = tmp_path / "out"

    result = run_inbox(inbox, out, credentials, time_scale)

    assert sorted(o.image for o in result.outputs) == ["astronaut", "grace_hopper"]
    reasons = {r.image: r.reason for r in result.rejected}
    assert set(reasons) == {"cut", "landscape"}
    assert "truncated" in reasons["cut"]
    assert "no person" in reasons["landscape"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert {r["image"] for r in manifest["rejected"].values()} == {"cut", "landscape"}
    assert piktid_emulator.stats(piktid_account.email).credits_charged == 2


def test_a_rejected_file_is_not_retried_until_it_changes(
    inbox: Path,
    tmp_path: Path,
    credentials,
    piktid_emulator: EmulatorServer,
    piktid_account,
    time_scale: float,
    samples: dict[str, Path],
) -> None:
    out = tmp_path / "out"
    run_inbox(inbox, out, credentials, time_scale)
    uploads = piktid_emulator.stats(piktid_account.email).requests["POST /edit/target"]

    again = run_inbox(inbox, out, credentials, time_scale)

    assert again.outputs == [] and again.rejected == []
    assert piktid_emulator.stats(piktid_account.email).requests["POST /edit/target"] == uploads

    shutil.copy(samples["group_of_three"], inbox / "cut.jpg")  # the file is fixed
    fixed = run_inbox(inbox, out, credentials, time_scale)

    assert {o.image for o in fixed.outputs} == {"cut"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert {r["image"] for r in manifest["rejected"].values()} == {"landscape"}
    assert piktid_emulator.stats(piktid_account.email).credits_charged == 2 + len(fixed.outputs)


def test_batch_variations_still_fails_before_any_credit_by_default(
    inbox: Path, tmp_path: Path, credentials, piktid_emulator, piktid_account, time_scale
) -> None:
    good_and_nobody = [str(inbox / "astronaut.jpg"), str(inbox / "landscape.png")]

    with pytest.raises(InvalidPerson, match="no person"):
        batch_variations(
            images=good_and_nobody,
            person_keywords=[OCEANIA],
            credentials=credentials,
            out_dir=str(tmp_path / "out"),
            timeout_seconds=600.0 * time_scale,
        )

    assert piktid_emulator.stats(piktid_account.email).credits_charged == 0
