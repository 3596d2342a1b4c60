"""A typo is refused before Prefect starts: exit 2, one line on stderr, nothing else.

Each case runs the real command in a fresh interpreter and records whether Prefect was
imported: importing it alone costs 1-2 s, starting its temporary server ~10 s more.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from piktid_prefect.demo import sample_images

SAMPLE = str(next(p for p in sample_images() if p.stem == "astronaut"))
# Runs the command's entry point, then writes whether any prefect module was imported.
RUNNER = """
import sys
marker = sys.argv.pop(1)
from piktid_prefect.cli import app
try:
    app()
finally:
    imported = any(m == "prefect" or m.startswith("prefect.") for m in sys.modules)
    open(marker, "w").write(str(imported))
"""


def _bad_files(folder: Path) -> dict[str, Path]:
    gif = folder / "animation.gif"
    gif.write_bytes(b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x00;")
    empty = folder / "empty.jpg"
    empty.write_bytes(b"")
    truncated = folder / "truncated.jpg"
    truncated.write_bytes(Path(SAMPLE).read_bytes()[:2000])
    return {"gif": gif, "empty": empty, "truncated": truncated}


CASES = [
    (["generate-person", "{astronaut}", "-k", "Location=Atlantis"], "Unknown Location 'Atlantis'"),
    (["generate-person", "{astronaut}", "-k", "Oceania"], "category=value"),
    (["generate-person", "{gif}", "-k", "Location=Oceania"], "GIF format"),
    (["generate-person", "{empty}", "-k", "Location=Oceania"], "empty.jpg is empty"),
    (["generate-person", "{truncated}", "-k", "Location=Oceania"], "truncated or corrupt"),
    (["generate-person", "{missing}", "-k", "Location=Oceania"], "does not exist"),
    (
        [
            "edit-background",
            "{astronaut}",
            "-k",
            "nature_landscapes=Beach",
            "--relight-strength",
            "1.5",
        ],
        "relight_strength",
    ),
    (["edit-background", "{astronaut}", "-k", "nature_landscapes=Moon"], "'Moon'"),
    (["edit-background", "{astronaut}"], "--keyword"),
    (["generate-person", "{astronaut}", "-k", "Location=Oceania", "--upscale", "3"], "2 or 4"),
]


@pytest.mark.parametrize(("args", "message"), CASES, ids=[c[1] for c in CASES])
def test_bad_input_exits_2_with_one_line_before_prefect_starts(
    tmp_path: Path, args: list[str], message: str
) -> None:
    files = {"astronaut": SAMPLE, "missing": str(tmp_path / "nope.jpg"), **_bad_files(tmp_path)}
    marker = tmp_path / "prefect-imported"
    env = {
        **os.environ,
        "PIKTID_EMAIL": "user@example.com",
        "PIKTID_PASSWORD": "secret",
        "PIKTID_BASE_URL": "http://127.0.0.1:9/api",
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
    }
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, str(marker)]
        + [a.format(**{k: str(v) for k, v in files.items()}) for a in args]
        + ["--out", str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and message in lines[0]
    assert done.stdout == ""
    assert marker.read_text() == "False", "Prefect was imported before the input was refused"
    assert not (tmp_path / "out").exists()


def test_missing_credentials_are_refused_before_prefect_starts(tmp_path: Path) -> None:
    marker = tmp_path / "prefect-imported"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIKTID_")}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            RUNNER,
            str(marker),
            "generate-person",
            SAMPLE,
            "-k",
            "Location=Oceania",
            "--out",
            str(tmp_path / "out"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1 and "PIKTID_ACCESS_TOKEN" in done.stderr
    assert marker.read_text() == "False"
