"""A run that crashed after paying for a start: the re-run collects it instead of paying again."""

from __future__ import annotations

import time

from piktid_prefect.flows import generate_people
from piktid_prefect.runtime import generation as logic
from piktid_prefect.runtime.journal import default_journal
from piktid_prefect.runtime.results import GenerationSpec, derive_seed

OCEANIA = {"Location": "Oceania"}


def crash_after_start(credentials, photo):  # type: ignore[no-untyped-def]
    """What a run killed between the start and its notification leaves behind."""
    image = logic.upload(credentials, str(photo))
    seed = derive_seed(image.sha256, "person", 0, OCEANIA)
    spec = GenerationSpec(kind="person", person_id=0, keyword=OCEANIA, options={"seed": seed})
    job = logic.start(credentials, image, spec)
    default_journal().record(logic.identity(credentials, image, spec), job)
    return job


def test_rerun_collects_the_job_a_crashed_run_paid_for(
    credentials, piktid_emulator, piktid_account, samples, tmp_path, time_scale
) -> None:
    crash_after_start(credentials, samples["astronaut"])
    assert piktid_emulator.stats(piktid_account.email).credits_charged == 1

    result = generate_people(
        image=str(samples["astronaut"]),
        keywords=[OCEANIA],
        credentials=credentials,
        out_dir=str(tmp_path),
        timeout_seconds=600 * time_scale,
    )

    assert len(result.outputs) == 1
    stats = piktid_emulator.stats(piktid_account.email)
    assert stats.credits_charged == 1 and not stats.duplicates


def test_a_start_too_old_to_be_notified_is_started_again(
    credentials, piktid_emulator, piktid_account, samples, tmp_path, time_scale
) -> None:
    crash_after_start(credentials, samples["grace_hopper"])
    time.sleep(600 * time_scale)  # past the wait window: its notification cannot be relied on
    piktid_emulator.advance(700)  # and PiktID dropped it (600 s lifetime)

    result = generate_people(
        image=str(samples["grace_hopper"]),
        keywords=[OCEANIA],
        credentials=credentials,
        out_dir=str(tmp_path),
        timeout_seconds=600 * time_scale,
    )

    assert len(result.outputs) == 1
    assert piktid_emulator.stats(piktid_account.email).credits_charged == 2
