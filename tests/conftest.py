"""Settings for the whole test suite (before Prefect is imported anywhere)."""

from __future__ import annotations

import os

# Prefect's server logs a sqlite "database is locked" error at start-up without this.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
