"""The command finds and stops its children: with `ps`, or with `/proc` where `ps` is missing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from piktid_prefect.cli import _children


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child
    if child.poll() is None:
        child.kill()
        child.wait()


def test_ps_lists_a_child_and_not_itself(sleeper: subprocess.Popen[bytes]) -> None:
    table = _children._ps_table()

    assert table is not None
    assert sleeper.pid in _children.child_pids()


def test_without_ps_the_child_is_found_in_proc(
    sleeper: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no `ps` to run

    assert _children._ps_table() is None
    assert sleeper.pid in _children.child_pids()


STOPPER = """
import signal, subprocess, sys
from piktid_prefect.cli import _children
stubborn = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)"], stdout=subprocess.PIPE)
assert stubborn.stdout.readline() == b"ready\\n"
_children.stop_children(grace_seconds=0.3)
print(stubborn.poll() is not None, _children.child_pids())
"""


def test_stop_children_ends_a_child_that_ignores_sigterm() -> None:
    # In a process of its own: here it would also stop this session's other children.
    done = subprocess.run(
        [sys.executable, "-c", STOPPER], capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "[]"]  # ended (SIGKILL), reaped, none left
