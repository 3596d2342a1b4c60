"""A flow's ``then``: every variation upscaled and swapped, each step paid once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from prefect import flow

from piktid_prefect.flows import generate_people
from piktid_prefect.tasks import create_identity
from piktid_prefect.wire.errors import NotEnoughCredits

LOCATIONS = [{"Location": "Oceania"}, {"Location": "East Asia"}]
CHAIN = [{"step": "upscale", "scale_factor": 2}, {"step": "identity", "identity_name": "grace"}]


def _run(credentials, samples, out: Path, time_scale: float, **kwargs):  # type: ignore[no-untyped-def]
    return generate_people(
        image=str(samples["group_of_three"]),
        keywords=LOCATIONS,
        persons=[0, 1],
        credentials=credentials,
        out_dir=str(out),
        stagger_seconds=15.0 * time_scale,
        timeout_seconds=600.0 * time_scale,
        then=CHAIN,
        **kwargs,
    )


def test_each_variation_is_upscaled_then_swapped_and_a_rerun_pays_nothing(
    credentials, piktid_emulator, piktid_account, samples, tmp_path, time_scale
) -> None:
    flow(lambda: create_identity(credentials, str(samples["grace_hopper"]), "grace"))()

    result = _run(credentials, samples, tmp_path, time_scale)
    again = _run(credentials, samples, tmp_path, time_scale)

    assert len(result.outputs) == 4
    for output in result.outputs:
        assert [step.step for step in output.chain] == ["upscale x2", "identity grace"]
        with Image.open(output.path) as variation, Image.open(output.chain[0].path) as bigger:
            assert bigger.size == (2 * variation.size[0], 2 * variation.size[1])
        assert Path(output.chain[1].path).is_file()
    manifest = json.loads(Path(result.manifest_path).read_text())
    assert sum(len(o["chain"]) for o in manifest["outputs"]) == 8
    charged = piktid_emulator.stats(piktid_account.email).credits_charged_by_endpoint
    assert charged == {"/edit/generate": 4, "/superid/v2": 1, "/consistent_identities/generate": 4}
    assert result.credits is not None and result.credits.spent == 9
    assert again.credits is not None and again.credits.spent == 0
    assert [o.chain for o in again.outputs] == [o.chain for o in result.outputs]


def test_a_rerun_asking_for_a_longer_chain_pays_only_for_the_new_step(
    credentials, piktid_emulator, piktid_account, samples, tmp_path, time_scale
) -> None:
    flow(lambda: create_identity(credentials, str(samples["grace_hopper"]), "grace"))()
    first = generate_people(
        image=str(samples["astronaut"]),
        keywords=LOCATIONS[:1],
        credentials=credentials,
        out_dir=str(tmp_path),
        timeout_seconds=600.0 * time_scale,
        then=CHAIN[:1],
    )
    longer = generate_people(
        image=str(samples["astronaut"]),
        keywords=LOCATIONS[:1],
        credentials=credentials,
        out_dir=str(tmp_path),
        timeout_seconds=600.0 * time_scale,
        then=CHAIN,
    )

    assert first.credits is not None and first.credits.spent == 1.25  # variation + x2
    assert longer.credits is not None and longer.credits.spent == 1
    assert longer.outputs[0].chain[0] == first.outputs[0].chain[0]
    charged = piktid_emulator.stats(piktid_account.email).credits_charged_by_endpoint
    assert charged == {
        "/edit/generate": 1,
        "/superid/v2": 0.25,
        "/consistent_identities/generate": 1,
    }


def test_a_chain_that_does_not_fit_max_credits_is_refused_before_any_start(
    credentials, piktid_emulator, piktid_account, samples, tmp_path, time_scale
) -> None:
    with pytest.raises(NotEnoughCredits, match=r"needs 2\.25 credits with the chained steps"):
        generate_people(
            image=str(samples["astronaut"]),
            keywords=LOCATIONS[:1],
            credentials=credentials,
            out_dir=str(tmp_path),
            timeout_seconds=600.0 * time_scale,
            then=CHAIN,
            max_credits=2,
        )
    assert piktid_emulator.stats(piktid_account.email).credits_charged_by_endpoint == {}


def test_the_budget_stops_a_chain_mid_way_and_the_rerun_pays_only_the_rest(
    credentials, piktid_emulator, piktid_account, samples, tmp_path, time_scale
) -> None:
    flow(lambda: create_identity(credentials, str(samples["grace_hopper"]), "grace"))()
    kwargs = {
        "image": str(samples["astronaut"]),
        "keywords": LOCATIONS[:1],
        "credentials": credentials,
        "out_dir": str(tmp_path),
        "timeout_seconds": 600.0 * time_scale,
        "then": CHAIN,
    }
    with pytest.raises(NotEnoughCredits, match="max_credits"):
        generate_people(**kwargs, max_credits=2, allow_partial=True)
    charged = piktid_emulator.stats(piktid_account.email).credits_charged_by_endpoint
    assert charged == {"/edit/generate": 1, "/superid/v2": 0.25}

    rest = generate_people(**kwargs)

    assert rest.credits is not None and rest.credits.spent == 1  # the swap only
    assert [s.step for s in rest.outputs[0].chain] == ["upscale x2", "identity grace"]
    charged = piktid_emulator.stats(piktid_account.email).credits_charged_by_endpoint
    assert charged == {
        "/edit/generate": 1,
        "/superid/v2": 0.25,
        "/consistent_identities/generate": 1,
    }
