"""The progress display reads the fan-out's run records: a bar on a terminal, lines elsewhere."""

from __future__ import annotations

import io
import logging
import re
import subprocess
import sys

from rich.console import Console

from piktid_prefect.cli._progress import RUN_LOGGER, ProgressReport


def _record(msg: str, *args: object, flow_run_id: str = "run-1") -> logging.LogRecord:
    record = logging.LogRecord(RUN_LOGGER, logging.INFO, __file__, 1, msg, args, None)
    record.flow_run_id = flow_run_id
    return record


def _report(mode: str, *, balances: list[float]) -> tuple[ProgressReport, io.StringIO]:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=mode == "bar", width=120)
    report = ProgressReport(console, mode=mode, balance=lambda: balances.pop(0))  # type: ignore[arg-type]
    return report, screen


def test_plain_lines_name_each_output_and_the_summary_counts_credits_from_the_ledger() -> None:
    report, screen = _report("lines", balances=[100.0, 97.0])
    report.start()
    report.emit(_record("%d/%d delivered %s", 1, 3, "photo_p0_Location-Oceania_s1.jpg"))
    report.emit(_record("%d/%d failed: %s", 2, 3, "No notification for person image=photo p=1"))
    report.emit(_record("%d/%d delivered %s", 3, 3, "photo_p2_Location-Oceania_s3.jpg"))
    report.stop()
    assert screen.getvalue().splitlines() == [
        "1/3 delivered photo_p0_Location-Oceania_s1.jpg",
        "2/3 failed: No notification for person image=photo p=1",
        "3/3 delivered photo_p2_Location-Oceania_s3.jpg",
    ]
    assert report.summary == "2 delivered, 1 failed, 3 credits spent"
    assert report.flow_run_id == "run-1"


def test_on_a_terminal_a_failed_output_gets_its_own_line_above_the_bar() -> None:
    report, screen = _report("bar", balances=[10.0, 9.0, 9.0])
    report.start()
    report.emit(_record("%d/%d failed: %s", 1, 2, "PiktID reported an error for person p=0"))
    report.emit(_record("%d/%d delivered %s", 2, 2, "photo_p1.jpg"))
    report.stop()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    assert "failed: PiktID reported an error for person p=0" in text
    assert "photo_p1.jpg" not in text  # deliveries move the bar, they print no line
    assert "2/2" in text and "ETA" in text


def test_other_records_are_ignored_and_silent_mode_draws_nothing() -> None:
    report, screen = _report("silent", balances=[5.0, 5.0])
    report.start()
    report.emit(_record("Finished in state %s", "Completed()"))
    report.emit(_record("%d/%d delivered %s", 1, 1, "photo.jpg"))
    report.stop()
    assert screen.getvalue() == ""
    assert report.summary == "1 delivered, 0 credits spent"


def test_the_report_still_hears_the_run_after_prefects_flow_api_is_first_imported() -> None:
    """Prefect sets up logging (replacing its loggers' handlers) on its first flow import."""
    script = """
import io, logging
from rich.console import Console
from piktid_prefect.cli._progress import RUN_LOGGER, ProgressReport, reporting
report = ProgressReport(Console(file=io.StringIO()), mode="lines", balance=lambda: None)
with reporting(report):
    import piktid_prefect.flows  # the CLI imports the flows only once the run starts
    logging.getLogger(RUN_LOGGER).info("%d/%d delivered %s", 1, 1, "photo.jpg")
print(report.summary)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "1 delivered"
