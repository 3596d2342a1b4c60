"""Installing the package changes nothing in a user's own pytest session.

The ``pytest11`` entry point loads our plugin into every pytest session of the
environment: a user's unrelated suite must start, pass, and see its environment as it
was. (CI also runs this in a fresh venv with the base install, no extras: `.ci/run`.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

USER_TEST = """
import json, os

def test_user_code():
    assert 1 + 1 == 2

def test_zz_dump_environment():
    with open(os.environ["DUMP_TO"], "w") as handle:
        json.dump(dict(os.environ), handle)
"""


def run_user_suite(tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], dict, dict]:
    """Run the user's suite; return pytest's result, the environment given and the one seen."""
    project = tmp_path / "user_project"
    project.mkdir()
    (project / "test_user.py").write_text(USER_TEST)
    dump = tmp_path / "environment.json"
    # The outer session's own variables stay out: PREFECT_* (ours), PYTEST_CURRENT_TEST.
    given = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PREFECT_") and k != "PYTEST_CURRENT_TEST"
    }
    given["DUMP_TO"] = str(dump)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=given,
        capture_output=True,
        text=True,
        timeout=120,
    )
    seen = json.loads(dump.read_text()) if dump.exists() else {}
    seen.pop("PYTEST_CURRENT_TEST", None)  # pytest's own, set while a test runs
    return done, given, seen


def test_a_users_unrelated_suite_passes_with_its_environment_untouched(tmp_path: Path) -> None:
    done, given, seen = run_user_suite(tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    assert seen == given


def test_the_plugin_is_loaded_there_and_can_be_switched_off(tmp_path: Path) -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "--fixtures", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    off = subprocess.run(
        [sys.executable, "-m", "pytest", "--fixtures", "-q", "-p", "no:piktid_emulator"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert "piktid_emulator" in listed.stdout
    assert "piktid_emulator" not in off.stdout
