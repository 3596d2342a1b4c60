"""The reliability suite: flows on the suite's shared Prefect harness, and helpers.

The harness's sqlite database file is what the secret-hygiene test reads raw.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _on_the_prefect_harness(prefect_harness: Path) -> None:
    """Every test here runs flows against the shared harness."""


def folder_snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder``: content hash and modification time (ns)."""
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
