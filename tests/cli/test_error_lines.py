"""An error line shows the user's own text whole, square brackets included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_a_file_name_with_brackets_is_named_whole(tmp_path: Path) -> None:
    missing = tmp_path / "shoot[final].jpg"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "piktid_prefect.cli", "edit-background", str(missing)),
            *("--keyword", "nature_landscapes=Beach", "--out", str(tmp_path / "out")),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2
    assert f"image {missing} does not exist" in done.stderr, done.stderr
