"""The command line chains: create-identity, then generate-person --upscale 2 --identity."""

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


def test_generate_person_upscales_and_swaps_each_variation(
    piktid_account, piktid_emulator, samples, tmp_path, time_scale
) -> None:
    env = {
        "PIKTID_BASE_URL": piktid_account.base_url,
        "PIKTID_EMAIL": piktid_account.email,
        "PIKTID_PASSWORD": piktid_account.password,
        "PIKTID_ACCESS_TOKEN": "",
    }
    saved = runner.invoke(app, ["create-identity", str(samples["grace_hopper"]), "grace"], env=env)
    assert saved.exit_code == 0, saved.output
    assert "identity saved: grace" in saved.output
    out = tmp_path / "out"
    args = ["generate-person", str(samples["astronaut"]), "-k", "Location=Oceania", "--out"]
    args += [str(out), "--timeout", str(600 * time_scale), "--upscale", "2", "--identity", "grace"]
    result = runner.invoke(app, args, env=env)

    assert result.exit_code == 0, result.output
    (output,) = json.loads((out / "manifest.json").read_text())["outputs"]
    assert [step["step"] for step in output["chain"]] == ["upscale x2", "identity grace"]
    assert all(Path(step["path"]).is_file() for step in output["chain"])
    assert "then" in result.output  # the summary table's column of chained files
    assert "credits: 2.25 spent by this run, balance 10000 -> 9997.75" in result.output
    charged = piktid_emulator.stats(piktid_account.email).credits_charged_by_endpoint
    assert charged == {
        "/edit/generate": 1,
        "/superid/v2": 0.25,
        "/consistent_identities/generate": 1,
    }
