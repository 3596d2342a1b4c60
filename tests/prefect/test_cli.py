"""The piktid-prefect command, end to end against the emulator."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from piktid_prefect.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """The command sets Prefect defaults in os.environ (its own process): undo them here."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def env(piktid_account) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        "PIKTID_BASE_URL": piktid_account.base_url,
        "PIKTID_EMAIL": piktid_account.email,
        "PIKTID_PASSWORD": piktid_account.password,
        "PIKTID_ACCESS_TOKEN": "",
    }


def test_generate_person_writes_images_and_manifest(env, samples, tmp_path, time_scale) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "generate-person",
            str(samples["group_of_three"]),
            "--keyword",
            "Location=Oceania",
            "--person",
            "0",
            "--person",
            "2",
            "--out",
            str(out),
            "--stagger",
            str(15 * time_scale),
            "--timeout",
            str(600 * time_scale),
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    outputs = manifest["outputs"]
    assert sorted(o["person"] for o in outputs) == [0, 2]
    for output in outputs:
        assert Path(output["path"]).is_file()
        assert output["keyword"] == {"Location": "Oceania"}
        assert isinstance(output["seed"], int) and output["link"].startswith("http")
        assert output["id_image"]


def test_edit_background_writes_images_and_manifest(env, samples, tmp_path, time_scale) -> None:
    out = tmp_path / "bg"
    result = runner.invoke(
        app,
        [
            "edit-background",
            str(samples["astronaut"]),
            "--keyword",
            "nature_landscapes=Beach",
            "--relight-strength",
            "0.4",
            "--seed",
            "5",
            "--out",
            str(out),
            "--timeout",
            str(600 * time_scale),
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    (output,) = json.loads((out / "manifest.json").read_text())["outputs"]
    assert output["person"] is None and output["seed"] == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--keyword", "Location=Atlantis"], "Atlantis"),
        (["--keyword", "Oceania"], "category=value"),
        (["--keyword", "Location=Oceania", "--person", "9"], "person 9"),
    ],
)
def test_bad_input_exits_2_with_one_line(env, samples, tmp_path, args, message) -> None:
    result = runner.invoke(
        app,
        ["generate-person", str(samples["astronaut"]), "--out", str(tmp_path), *args],
        env=env,
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0]


def test_missing_image_and_missing_credentials_are_named(samples, tmp_path) -> None:
    missing = runner.invoke(
        app, ["generate-person", "nope.jpg", "-k", "Location=Oceania", "-o", str(tmp_path)]
    )
    assert missing.exit_code == 2 and "nope.jpg does not exist" in missing.output
    no_creds = runner.invoke(
        app,
        [
            "generate-person",
            str(samples["astronaut"]),
            "-k",
            "Location=Oceania",
            "-o",
            str(tmp_path),
        ],
        env={"PIKTID_ACCESS_TOKEN": "", "PIKTID_EMAIL": "", "PIKTID_PASSWORD": ""},
    )
    assert no_creds.exit_code == 2 and "PIKTID_ACCESS_TOKEN" in no_creds.output


def test_demo_runs_end_to_end_without_an_account(tmp_path) -> None:
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    outputs = json.loads((out / "manifest.json").read_text())["outputs"]
    persons = [o for o in outputs if o["person"] is not None]
    backgrounds = [o for o in outputs if o["person"] is None]
    # 3 sample photos with 1 + 1 + 3 persons, 2 Location keywords; 2 backgrounds each.
    assert len(persons) == 5 * 2 and len(backgrounds) == 3 * 2
    assert all(Path(o["path"]).is_file() for o in outputs)
    assert "prefect server start" in result.output or "Prefect UI" in result.output
