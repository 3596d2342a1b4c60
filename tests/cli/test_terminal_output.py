"""What a person sees: a quiet terminal, a first run that starts on busy cores, clean tests.

Each test runs the real command (or pytest) as a process, on a fresh ``PREFECT_HOME``
where the command starts Prefect's temporary server itself.
"""

from __future__ import annotations

import os
import pty
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from piktid_prefect.demo import sample_images
from piktid_prefect.emulator import EmulatorAccount

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
COMMAND = str(Path(sys.executable).with_name("piktid-prefect"))
GROUP_PHOTO = str(next(p for p in sample_images() if p.stem == "group_of_three"))
# Persons 0 and 2, one keyword: 2 outputs.
ARGS = ["generate-person", GROUP_PHOTO, "-k", "Location=Oceania", "-p", "0", "-p", "2"]
ARGS += ["--stagger", "0.15", "--timeout", "6"]


def _env(account: EmulatorAccount, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIKTID_", "PREFECT_"))}
    return {
        **env,
        "PIKTID_BASE_URL": account.base_url,
        "PIKTID_EMAIL": account.email,
        "PIKTID_PASSWORD": account.password,
        "PIKTID_JOURNAL_DIR": str(tmp_path / "journal"),
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "COLUMNS": "120",
    }


@pytest.fixture
def busy_cores() -> Iterator[None]:
    """One bounded busy loop per core, for as long as the test runs (at most 5 minutes)."""
    loop = "import time\nend = time.time() + 300\nwhile time.time() < end: pass\n"
    spinners = [subprocess.Popen([sys.executable, "-c", loop]) for _ in range(os.cpu_count() or 1)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def _logged_messages(home: Path) -> list[str]:
    with sqlite3.connect(home / "prefect.db") as db:
        return [row[0] for row in db.execute("SELECT message FROM log")]


def test_first_run_on_busy_cores_prints_plain_progress_lines_and_nothing_else(
    piktid_account: EmulatorAccount, tmp_path: Path, busy_cores: None
) -> None:
    """Fresh PREFECT_HOME (migrations) on busy cores; no telemetry error; logs in Prefect."""
    done = subprocess.run(
        [COMMAND, *ARGS, "-o", str(tmp_path / "out")],
        env=_env(piktid_account, tmp_path),
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert sorted(line.split(" ", 2)[:2] for line in lines[:2]) == [
        ["1/2", "delivered"],
        ["2/2", "delivered"],
    ], done.stderr
    assert lines[2:] == ["2 delivered, 2 credits spent"], done.stderr
    assert "manifest:" in done.stdout
    # The per-task lines the terminal no longer shows still reached the Prefect API.
    logged = _logged_messages(tmp_path / "prefect-home")
    assert sum(re.match(r"\d+/2 delivered ", message) is not None for message in logged) == 2


@pytest.mark.long  # a third fresh PREFECT_HOME (~25 s): the default run keeps CI under 15 min
def test_verbose_brings_prefects_log_lines_back(
    piktid_account: EmulatorAccount, tmp_path: Path
) -> None:
    done = subprocess.run(
        [COMMAND, *ARGS, "-o", str(tmp_path / "out"), "-v"],
        env=_env(piktid_account, tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "| INFO    | Flow run" in done.stderr
    assert "Failed to send telemetry" not in done.stderr


def test_on_a_terminal_one_live_progress_bar_replaces_the_log_lines(
    piktid_account: EmulatorAccount, tmp_path: Path
) -> None:
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [COMMAND, *ARGS, "-o", str(tmp_path / "out")],
        env={**_env(piktid_account, tmp_path), "TERM": "xterm-256color"},
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        start_new_session=True,
    )
    os.close(secondary)
    screen = b""
    try:
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal closed: the command ended
                break
            if not chunk:
                break
            screen += chunk
        assert process.wait(timeout=300) == 0, screen.decode(errors="replace")
    finally:
        os.close(primary)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.decode(errors="replace"))
    assert "2/2 outputs" in text and "credits" in text and "ETA" in text, text
    assert "━" in text  # the bar itself
    assert "INFO" not in text and "delivered group_of_three" not in text, text


def test_a_users_own_tests_with_the_plugin_end_clean(tmp_path: Path) -> None:
    """``pytest examples/test_my_flow.py`` used to end with ``--- Logging error ---``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIKTID_", "PREFECT_"))}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), PIKTID_JOURNAL_DIR=str(tmp_path))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "examples/test_my_flow.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "1 passed" in output
    assert "Logging error" not in output and "Error logging to API" not in output, output
    assert "Traceback" not in output, output
