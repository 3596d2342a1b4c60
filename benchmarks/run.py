"""Batch benchmark: makespan against the API's critical path, request economy, memory.

    python benchmarks/run.py            # the full table (~8-10 minutes on 2 cores)
    python benchmarks/run.py --quick    # a smaller, faster version (~3 minutes)

A local PiktID emulator with fixed latencies (``batchbench/spec.py``) serves 8 distinct
three-person photos x 3 persons x 8 Location keywords + 8 background keywords per image
(256 outputs). The same batch runs three ways, each in a fresh subprocess with a fresh
account: the package's ``batch_variations`` flow, a bare asyncio + httpx script, and the
public sample scripts' way (one job at a time, a poll every 5 s; a subset, extrapolated).
Then peak RSS of the flow for a small and a large batch of small images. Times are in
API-seconds (what PiktID would take; real seconds = API-seconds x time_scale). The table
goes to stdout and to ``benchmarks/results/latest.md`` (raw numbers: ``latest.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller subsets (~3 minutes)")
    parser.add_argument("--time-scale", type=float, help="real s per API-s of the batch runs")
    parser.add_argument("--profile", action="store_true", help="cProfile the flow's process")
    parser.add_argument(
        "--batch-only",
        action="store_true",
        help="only the flow and the bare script (e.g. to compare time scales)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--no-save", action="store_true", help="do not write results/latest.*")
    return parser.parse_args()


def main() -> None:
    """Run everything and print the table."""
    args = _args()
    # Prefect's server logs a sqlite "database is locked" error at start-up without this.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from batchbench.suite import Suite
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    time_scale = args.time_scale or (0.25 if args.quick else 0.5)
    work = Path(tempfile.mkdtemp(prefix="piktid-bench-"))
    began = time.monotonic()
    load = os.getloadavg()[0]
    # A Prefect server first: its ~10 s start-up is not part of any makespan.
    with prefect_test_harness(server_startup_timeout=120):
        env = {
            "PREFECT_API_URL": str(PREFECT_API_URL.value()),
            "PIKTID_JOURNAL_DIR": str(work / "journal"),
            "PREFECT_LOCAL_STORAGE_PATH": str(work / "storage"),
        }
        suite = Suite(
            work,
            env,
            time_scale=time_scale,
            quick=args.quick,
            profile=args.profile,
            batch_only=args.batch_only,
        )
        results = suite.run()
    import prefect

    flags = [f for f, on in (("--quick", args.quick), ("--batch-only", args.batch_only)) if on]
    if args.time_scale:
        flags.append(f"--time-scale {args.time_scale:g}")
    command = " ".join(["python benchmarks/run.py", *flags])
    results.header = [
        f"`{command}` — {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"prefect {prefect.__version__}; load average {load:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at end; {time.monotonic() - began:.0f} s in all.",
        "",
        *suite.describe(),
    ]
    table = results_table(results)
    print(table)
    if not args.no_save:
        RESULTS_DIR.mkdir(exist_ok=True)
        suffix = "-quick" if args.quick else ""
        if args.batch_only:
            suffix += f"-batch-only-ts{time_scale:g}"
        (RESULTS_DIR / f"latest{suffix}.md").write_text(table + "\n")
        raw: dict[str, Any] = asdict(results)
        (RESULTS_DIR / f"latest{suffix}.json").write_text(json.dumps(raw, indent=1) + "\n")
    if args.keep or args.profile:
        print(f"\nWork folder (job files, logs, profiles): {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def results_table(results: Any) -> str:
    """The markdown report."""
    from batchbench.report import render

    return str(render(results))


if __name__ == "__main__":
    main()
