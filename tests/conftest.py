"""Settings for the whole test suite (before Prefect is imported anywhere)."""

from __future__ import annotations

import os

# Prefect's server logs a sqlite "database is locked" error at start-up without this.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def pytest_configure(config: object) -> None:
    """Keep the journal of started generations inside the test session's temp area."""
    import tempfile

    os.environ.setdefault("PIKTID_JOURNAL_DIR", tempfile.mkdtemp(prefix="piktid-journal-"))
