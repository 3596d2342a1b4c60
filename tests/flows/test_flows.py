"""The flows against the emulator over real HTTP, under a Prefect test harness."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from piktid_prefect.flows import edit_backgrounds, generate_people, person_and_background_variations
from piktid_prefect.wire.errors import InvalidKeyword, InvalidOptions, InvalidPerson, PiktidError
from tests.prefect.helpers import requests_to

LOCATIONS = [{"Location": "Oceania"}, {"Location": "East Asia"}]
BACKGROUNDS = [{"nature_landscapes": "Beach"}, {"indoor_spaces": "Office"}]


def run_people(credentials, image: Path, out: Path, time_scale: float, **kwargs):  # type: ignore[no-untyped-def]
    kwargs.setdefault("keywords", LOCATIONS)
    kwargs.setdefault("stagger_seconds", 15.0 * time_scale)
    kwargs.setdefault("timeout_seconds", 600.0 * time_scale)
    return generate_people(image=str(image), credentials=credentials, out_dir=str(out), **kwargs)


def test_generate_people_fans_out_per_person_and_keyword(
    credentials, piktid_emulator, piktid_account, samples, tmp_path, time_scale
) -> None:
    result = run_people(credentials, samples["group_of_three"], tmp_path, time_scale)

    assert len(result.outputs) == 3 * 2
    assert {(o.person, o.keyword["Location"]) for o in result.outputs} == {
        (p, k["Location"]) for p in range(3) for k in LOCATIONS
    }
    for output in result.outputs:
        with Image.open(output.path) as picture:
            picture.load()
    manifest = json.loads(Path(result.manifest_path).read_text())
    assert len(manifest["outputs"]) == 6
    assert set(manifest["outputs"][0]) >= {"path", "id_image", "person", "keyword", "seed", "link"}
    stats = piktid_emulator.stats(piktid_account.email)
    assert stats.credits_charged == 6
    assert requests_to(stats, "/edit/target") == 1
    assert not stats.duplicates


def test_each_persons_follow_ups_wait_for_the_stagger(
    credentials, piktid_emulator, piktid_account, samples, tmp_path, time_scale
) -> None:
    run_people(
        credentials,
        samples["astronaut"],
        tmp_path,
        time_scale,
        keywords=[*LOCATIONS, {"Location": "Africa"}],
    )
    records = sorted(
        piktid_emulator.stats(piktid_account.email).generations, key=lambda r: r.started_at
    )
    first, *rest = records
    assert first.warmup_paid
    # started_at is on the emulator's virtual clock (API seconds): 15 s stagger.
    assert all(r.started_at - first.started_at >= 15.0 * 0.9 for r in rest)
    assert not any(r.warmup_paid for r in rest)


def test_rerun_of_completed_flow_spends_no_credits(
    credentials, piktid_emulator, piktid_account, samples, tmp_path, time_scale
) -> None:
    first = run_people(credentials, samples["grace_hopper"], tmp_path, time_scale)
    before = piktid_emulator.stats(piktid_account.email)

    again = run_people(credentials, samples["grace_hopper"], tmp_path, time_scale)

    after = piktid_emulator.stats(piktid_account.email)
    assert after.credits_charged == before.credits_charged == 2
    assert requests_to(after, "/edit/target") == requests_to(before, "/edit/target") == 1
    assert [o.path for o in again.outputs] == [o.path for o in first.outputs]


def test_crashed_run_resumes_paying_only_for_missing_outputs(
    credentials, piktid_emulator, piktid_account, samples, tmp_path, time_scale
) -> None:
    from piktid_prefect.emulator import FaultConfig

    piktid_emulator.set_faults(FaultConfig(seed=3, lose_notification=0.5))
    keywords = [{"Location": k} for k in ("Oceania", "East Asia", "Africa", "Middle East")]
    with pytest.raises(PiktidError, match="outputs failed") as failure:
        run_people(
            credentials,
            samples["astronaut"],
            tmp_path,
            time_scale,
            keywords=keywords,
            timeout_seconds=60.0 * time_scale,
            output_retries=0,  # leave the lost ones to the re-run
        )
    assert "NotificationTimeout" in str(failure.value)
    delivered = json.loads((tmp_path / "manifest.json").read_text())["outputs"]
    paid_first = piktid_emulator.stats(piktid_account.email).credits_charged
    assert paid_first == 4 and 0 < len(delivered) < 4

    piktid_emulator.set_faults(FaultConfig())
    result = run_people(credentials, samples["astronaut"], tmp_path, time_scale, keywords=keywords)

    assert len(result.outputs) == 4
    missing = 4 - len(delivered)
    assert piktid_emulator.stats(piktid_account.email).credits_charged == paid_first + missing


def test_transient_faults_are_retried_without_paying_twice(
    credentials, piktid_emulator, piktid_account, samples, tmp_path, time_scale
) -> None:
    from piktid_prefect.emulator import FaultConfig

    piktid_emulator.set_faults(
        FaultConfig(seed=11, http_429=0.15, http_503=0.15, drop_connection=0.1)
    )
    result = person_and_background_variations(
        image=str(samples["group_of_three"]),
        person_keywords=LOCATIONS,
        background_keywords=BACKGROUNDS,
        credentials=credentials,
        out_dir=str(tmp_path),
        stagger_seconds=15.0 * time_scale,
        timeout_seconds=600.0 * time_scale,
    )
    stats = piktid_emulator.stats(piktid_account.email)
    assert len(result.outputs) == 3 * 2 + 2
    assert sum(stats.faults.values()) > 0
    assert not stats.duplicates
    assert stats.credits_charged == 8


def test_edit_backgrounds_passes_relight_strength_and_seed(
    credentials, piktid_emulator, piktid_account, samples, tmp_path, time_scale
) -> None:
    result = edit_backgrounds(
        image=str(samples["astronaut"]),
        keywords=BACKGROUNDS,
        relight_strength=0.25,
        seed=42,
        credentials=credentials,
        out_dir=str(tmp_path),
        timeout_seconds=600.0 * time_scale,
    )
    assert {o.seed for o in result.outputs} == {42}
    assert all("_bg_" in Path(o.path).name and "_s42" in o.path for o in result.outputs)
    keys = piktid_emulator.stats(piktid_account.email).generations_started
    assert {k.seed for k in keys} == {42}


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"keywords": [{"Location": "Atlantis"}]}, InvalidKeyword),
        ({"keywords": [{"Colour": "Oceania"}]}, InvalidKeyword),
        ({"options": {"strength": 3}}, InvalidOptions),
        ({"persons": [7]}, InvalidPerson),
    ],
)
def test_bad_input_fails_before_any_credit(
    credentials, piktid_emulator, piktid_account, samples, tmp_path, time_scale, kwargs, error
) -> None:
    with pytest.raises(error):
        run_people(credentials, samples["astronaut"], tmp_path, time_scale, **kwargs)
    stats = piktid_emulator.stats(piktid_account.email)
    assert stats.credits_charged == 0
    assert requests_to(stats, "/edit/generate") == 0


def test_blurry_person_is_refused_before_any_credit(
    credentials, piktid_emulator, piktid_account, samples, tmp_path, time_scale
) -> None:
    from PIL import ImageFilter

    blurry = tmp_path / "blurry.jpg"
    with Image.open(samples["astronaut"]) as picture:
        picture.filter(ImageFilter.GaussianBlur(8)).save(blurry)
    with pytest.raises(InvalidPerson, match="approved"):
        run_people(credentials, blurry, tmp_path / "out", time_scale)
    assert piktid_emulator.stats(piktid_account.email).credits_charged == 0


def test_a_repeated_keyword_is_made_and_paid_once(
    credentials, piktid_emulator, piktid_account, samples, tmp_path, time_scale
) -> None:
    result = run_people(
        credentials,
        samples["astronaut"],
        tmp_path,
        time_scale,
        keywords=[{"Location": "Oceania"}, {"location": "Oceania"}],
    )
    assert len(result.outputs) == 1
    assert piktid_emulator.stats(piktid_account.email).credits_charged == 1
