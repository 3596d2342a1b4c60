"""An error the command did not expect is one line naming it and where its traceback is."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from piktid_prefect.demo import sample_images

pytestmark = pytest.mark.slow

COMMAND = str(Path(sys.executable).with_name("piktid-prefect"))
PHOTO = str(next(p for p in sample_images() if p.stem == "astronaut"))


def _run(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIKTID_", "PREFECT_"))}
    env.update(
        PIKTID_EMAIL="user@example.com",
        PIKTID_PASSWORD="secret",
        PIKTID_BASE_URL="http://127.0.0.1:9/api",
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        # No temporary Prefect server starts in one second: an error the command cannot fix.
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="1",
    )
    return subprocess.run(
        [COMMAND, "generate-person", PHOTO, "-k", "Location=Oceania", "-o", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_server_that_does_not_start_is_one_line_with_the_traceback_saved(
    tmp_path: Path,
) -> None:
    done = _run(tmp_path)
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    # The user's own setting is kept, and named.
    assert "temporary Prefect server did not start within 1 s" in line
    assert "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" in line
    saved = re.search(r"full traceback: (\S+?)\)", line)
    assert saved is not None, line
    assert "Traceback (most recent call last)" in Path(saved.group(1)).read_text()
