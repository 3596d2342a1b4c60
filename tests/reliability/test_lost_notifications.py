"""A notification that never comes: a named timeout, a re-run that pays only for that job,
and a poller that recovers after being paused past the 600 s notification lifetime."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect import flow

from piktid_prefect.emulator import EmulatorServer, FaultConfig
from piktid_prefect.flows import generate_people
from piktid_prefect.tasks import await_notification, start_person_generation, upload_image
from piktid_prefect.wire.errors import NotificationTimeout
from tests.reliability.conftest import folder_snapshot

OCEANIA = {"Location": "Oceania"}
EAST_ASIA = {"Location": "East Asia"}
# With this seed the first start's notification is lost and the second one's is not
# (random.Random(1) draws 0.13 then 0.85 against the 0.5 rate).
FIRST_OF_TWO_LOST = FaultConfig(seed=1, lose_notification=0.5)


def _people(image: Path, credentials, out_dir: Path, time_scale: float, **kwargs):  # type: ignore[no-untyped-def]
    return generate_people(
        image=str(image),
        keywords=[OCEANIA, EAST_ASIA],
        persons=[0],
        credentials=credentials,
        out_dir=str(out_dir),
        stagger_seconds=15.0 * time_scale,
        timeout_seconds=600.0 * time_scale,
        return_state=True,
        **{"output_retries": 0, **kwargs},  # these tests are about what a re-run collects
    )


def test_lost_notification_fails_with_a_timeout_naming_the_job(
    piktid_emulator: EmulatorServer, piktid_account, credentials, samples, tmp_path, time_scale
) -> None:
    piktid_emulator.set_faults(FIRST_OF_TWO_LOST)
    state = _people(samples["astronaut"], credentials, tmp_path, time_scale)

    assert state.is_failed()
    message = str(state.message)
    assert "1 of 2 outputs failed" in message
    assert "NotificationTimeout" in message
    assert "person=0 Location=Oceania" in message  # the job, by name
    assert "East Asia" not in message.split("failed", 1)[1]
    (delivered,) = tmp_path.glob("*.jpg")
    assert delivered.name.startswith("astronaut_p0_Location-East_Asia_")
    stats = piktid_emulator.stats(piktid_account.email)
    assert stats.credits_charged == 2
    assert [g.outcome for g in stats.generations] == ["lost", "notified"]


def test_rerun_pays_only_for_the_lost_job(
    piktid_emulator: EmulatorServer, piktid_account, credentials, samples, tmp_path, time_scale
) -> None:
    piktid_emulator.set_faults(FIRST_OF_TWO_LOST)
    assert _people(samples["astronaut"], credentials, tmp_path, time_scale).is_failed()
    before = folder_snapshot(tmp_path)
    charged = piktid_emulator.stats(piktid_account.email).credits_charged

    piktid_emulator.set_faults(FaultConfig())
    state = _people(samples["astronaut"], credentials, tmp_path, time_scale)

    assert state.is_completed()
    result = state.result()
    assert len(result.outputs) == 2
    stats = piktid_emulator.stats(piktid_account.email)
    assert stats.credits_charged - charged == 1
    (repaid,) = stats.duplicates
    assert repaid.keyword == '{"Location": "Oceania"}'
    # The output delivered by the first run is untouched (same bytes, same mtime).
    for name, fingerprint in before.items():
        if name != "manifest.json":
            assert folder_snapshot(tmp_path)[name] == fingerprint


def test_poller_paused_past_the_notification_lifetime_times_out_by_name_then_recovers(
    piktid_emulator: EmulatorServer, piktid_account, credentials, samples, tmp_path, time_scale
) -> None:
    @flow
    def start_then_sleep_past_600_seconds() -> None:
        image = upload_image(credentials, samples["astronaut"])
        job = start_person_generation(credentials, image, 0, OCEANIA, options={"seed": 11})
        piktid_emulator.advance(60.0)  # the generation (8 s + 12 s of masks) is done...
        assert piktid_emulator.drain()  # ...and its notification exists...
        piktid_emulator.advance(700.0)  # ...and the poller "sleeps" past its 600 s lifetime
        await_notification(credentials, job, timeout_seconds=600.0 * time_scale)

    with pytest.raises(NotificationTimeout) as caught:
        start_then_sleep_past_600_seconds()
    assert "person=0 Location=Oceania seed=11" in str(caught.value)
    assert "600 s" in str(caught.value)
    stats = piktid_emulator.stats(piktid_account.email)
    assert stats.notifications_expired == 1
    assert stats.credits_charged == 1

    # The same process's poller carries on: the next run is delivered, and pays once per job.
    state = _people(samples["astronaut"], credentials, tmp_path, time_scale)
    assert state.is_completed()
    assert len(state.result().outputs) == 2
    assert piktid_emulator.stats(piktid_account.email).credits_charged == 3
