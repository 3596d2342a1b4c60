"""Prefect settings the command line chooses before Prefect is imported.

Prefect reads its settings (and sets up logging) when it is first imported, so these are
environment variables set before that, and only where the user has not set them:

- ``PREFECT_SERVER_ANALYTICS_ENABLED=false``: the temporary server's telemetry heartbeat
  logs ``ERROR ... Failed to send telemetry`` on a machine without internet (and locks the
  fresh sqlite database at start-up).
- ``DO_NOT_TRACK=1``: Prefect's client prints a telemetry notice on the first run in a
  terminal, in the middle of the progress bar; with the server's analytics off it has
  nothing to report anyway.
- ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``: the temporary server runs its
  database migrations first on a fresh ``PREFECT_HOME``: 18 s on 2 idle cores, more than
  Prefect's default 20 s when the cores are busy. The timeout grows with the load.
- ``PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL``: without ``-v`` the terminal shows the
  command's own progress instead of Prefect's per-task lines; the logs still go to the
  Prefect API (a separate handler).
"""

from __future__ import annotations

import os

__all__ = ["STARTUP_TIMEOUT_VARIABLE", "prepare_prefect_environment", "startup_timeout_seconds"]

STARTUP_TIMEOUT_VARIABLE = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
# Three times the 18 s measured on 2 idle cores with a fresh database.
_IDLE_STARTUP_SECONDS = 60.0
_MAX_STARTUP_SECONDS = 600.0


def startup_timeout_seconds(load_per_core: float | None = None) -> float:
    """Seconds to wait for the temporary server: 60 s, scaled up by the CPU load per core."""
    if load_per_core is None:
        try:
            load_per_core = os.getloadavg()[0] / (os.cpu_count() or 1)
        except OSError:  # no load average on this platform
            load_per_core = 1.0
    return min(_IDLE_STARTUP_SECONDS * max(1.0, load_per_core), _MAX_STARTUP_SECONDS)


def prepare_prefect_environment(*, verbose: bool) -> None:
    """Set the defaults above; a value the user set wins."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault(STARTUP_TIMEOUT_VARIABLE, f"{startup_timeout_seconds():.0f}")
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
