"""A free-text prompt describes the new person: in the flows and ``generate-person --prompt``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from piktid_prefect.cli import app
from piktid_prefect.flows import generate_people, person_and_background_variations
from piktid_prefect.runtime.results import GenerationSpec, output_filename
from piktid_prefect.wire.errors import InvalidInput

RED_DRESS = "a woman in a red dress"


def _people(credentials, image: Path, out: Path, time_scale: float, **kwargs):  # type: ignore[no-untyped-def]
    return generate_people(
        image=str(image),
        credentials=credentials,
        out_dir=str(out),
        stagger_seconds=15.0 * time_scale,
        timeout_seconds=600.0 * time_scale,
        **kwargs,
    )


def test_a_prompt_alone_makes_one_output_per_person_and_reruns_free(
    credentials, piktid_emulator, piktid_account, samples, tmp_path, time_scale
) -> None:
    (red,) = _people(
        credentials, samples["astronaut"], tmp_path, time_scale, prompt=RED_DRESS
    ).outputs
    again = _people(credentials, samples["astronaut"], tmp_path, time_scale, prompt=RED_DRESS)
    (blue,) = _people(
        credentials, samples["astronaut"], tmp_path, time_scale, prompt="a man in a blue suit"
    ).outputs

    assert [o.path for o in again.outputs] == [red.path]
    assert red.keyword == {} and red.person == 0
    assert Path(red.path).name != Path(blue.path).name
    assert Path(red.path).read_bytes() != Path(blue.path).read_bytes()
    stats = piktid_emulator.stats(piktid_account.email)
    assert stats.credits_charged == 2
    assert sorted(r.key.prompt for r in stats.generations) == ["a man in a blue suit", RED_DRESS]
    assert all(r.key.keyword is None for r in stats.generations)


def test_person_prompt_rides_with_each_person_keyword_next_to_backgrounds(
    credentials, piktid_emulator, piktid_account, samples, tmp_path, time_scale
) -> None:
    result = person_and_background_variations(
        image=str(samples["astronaut"]),
        person_keywords=[{"Location": "Oceania"}],
        background_keywords=[{"florals": "Roses"}],
        person_prompt="smiling",
        credentials=credentials,
        out_dir=str(tmp_path),
        stagger_seconds=15.0 * time_scale,
        timeout_seconds=600.0 * time_scale,
    )
    assert len(result.outputs) == 2
    keys = {r.key.kind: r.key for r in piktid_emulator.stats(piktid_account.email).generations}
    assert keys["person"].prompt == "smiling"
    assert json.loads(keys["person"].keyword or "") == {"Location": "Oceania"}
    assert keys["background"].prompt == ""


def test_neither_keywords_nor_prompt_is_refused_before_any_upload(
    credentials, piktid_emulator, piktid_account, samples, tmp_path
) -> None:
    with pytest.raises(InvalidInput, match="keywords or a prompt"):
        generate_people(
            image=str(samples["astronaut"]),
            prompt="   ",
            credentials=credentials,
            out_dir=str(tmp_path),
        )
    assert piktid_emulator.stats(piktid_account.email).requests == {}


def test_output_names_differ_by_prompt_and_keep_keyword_only_names() -> None:
    keyword = {"Location": "Oceania"}
    names = {
        output_filename("x", GenerationSpec(kind="person", person_id=0, options={"seed": 1}, **ask))
        for ask in (
            {"keyword": keyword},
            {"keyword": keyword, "prompt": "red"},
            {"keyword": keyword, "prompt": "blue"},
            {"prompt": "red"},
            {"prompt": "blue"},
        )
    }
    assert len(names) == 5
    assert "x_p0_Location-Oceania_s1.jpg" in names  # unchanged without a prompt


def test_cli_generate_person_with_only_a_prompt(
    piktid_account, samples, tmp_path, time_scale
) -> None:
    env = {
        "PIKTID_BASE_URL": piktid_account.base_url,
        "PIKTID_EMAIL": piktid_account.email,
        "PIKTID_PASSWORD": piktid_account.password,
        "PIKTID_ACCESS_TOKEN": "",
    }
    out = tmp_path / "out"
    common = ["generate-person", str(samples["astronaut"]), "--out", str(out)]
    timing = ["--stagger", str(15 * time_scale), "--timeout", str(600 * time_scale)]
    result = CliRunner().invoke(app, [*common, "--prompt", RED_DRESS, *timing], env=env)
    assert result.exit_code == 0, result.output
    (output,) = json.loads((out / "manifest.json").read_text())["outputs"]
    assert Path(output["path"]).is_file() and "_p0_prompt-" in output["path"]

    neither = CliRunner().invoke(app, common, env=env)
    assert neither.exit_code == 2
    assert "--keyword Location=value or a --prompt" in neither.output
