"""One measured client run, in a fresh process: ``python -m batchbench.child JOB.json``.

Each client runs in its own process so that peak RSS and CPU are its own (the emulator
and the Prefect server live in other processes) and the runs are comparable. The
result (outputs, real seconds, peak RSS) is written as JSON to ``job.result_path``.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

from batchbench.spec import Job

__all__ = ["main"]


def _peak_rss_mb() -> float:
    """This process's peak resident set size, in MiB.

    ``VmHWM`` first: ``ru_maxrss`` survives ``exec`` on Linux, so a child forked from a
    big parent would report the parent's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _ThreadCounter:
    """Samples this process's thread count: the flows run every task in its own thread."""

    def __init__(self) -> None:
        self.peak = threading.active_count()
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, threading.active_count())

    def stop(self) -> int:
        self._stop.set()
        return self.peak


def run_prefect(job: Job) -> dict[str, Any]:
    """``batch_variations`` on the job's images; timed around the flow call only."""
    from piktid_prefect.credentials import PiktidCredentials
    from piktid_prefect.flows import batch_variations
    from piktid_prefect.runtime.results import UploadedImage

    credentials = PiktidCredentials(
        base_url=job.base_url,
        access_token=job.access_token,
        poll_interval_seconds=job.real(job.extra["poll_seconds"]),
    )
    rss_before = _peak_rss_mb()
    trace_top = int(os.environ.get("PIKTID_BENCH_TRACEMALLOC", "0"))
    census = _HeapCensus() if trace_top else None
    threads = _ThreadCounter()
    began = time.monotonic()
    images: list[str | UploadedImage] = list(job.images)
    result = batch_variations(
        images=images,
        person_keywords=job.person_keywords,
        background_keywords=job.background_keywords,
        credentials=credentials,
        out_dir=job.out_dir,
        stagger_seconds=job.real(job.extra["stagger_seconds"]),
        max_in_flight=job.max_in_flight,
        timeout_seconds=job.real(600.0),
    )
    seconds = time.monotonic() - began
    if census is not None:
        census.report(trace_top)
    return {
        "peak_threads": threads.stop(),
        "outputs": len(result.outputs),
        "failures": len(result.failures),
        "real_seconds": seconds,
        "began_monotonic": began,
        "peak_rss_before_flow_mb": rss_before,
    }


class _HeapCensus:
    """Where the flow's memory is held at its fullest (PIKTID_BENCH_TRACEMALLOC=N).

    Sampled while the flow runs (peak RSS is reached inside the flow, and what the flow
    context holds is gone once it returns): every 15 s, the snapshot of the fullest heap
    so far is kept. tracemalloc slows the process down; use it for the census only.
    """

    def __init__(self) -> None:
        tracemalloc.start(12)  # frames: who called the allocation, not only where
        self._fullest = 0
        self._snapshot: tracemalloc.Snapshot | None = None
        self._objects: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(15.0):
            self._sample()

    def _sample(self) -> None:
        current, _ = tracemalloc.get_traced_memory()
        if current > self._fullest:
            self._fullest = current
            self._snapshot = tracemalloc.take_snapshot()
            self._objects = Counter(type(o).__name__ for o in gc.get_objects())

    def report(self, top: int) -> None:
        self._stop.set()
        self._thread.join()
        _, peak = tracemalloc.get_traced_memory()
        mib = 2**20
        print(f"TRACEMALLOC fullest {self._fullest / mib:.1f} MiB, peak {peak / mib:.1f} MiB")
        if self._snapshot is not None:
            own = tracemalloc.Filter(False, tracemalloc.__file__)
            snapshot = self._snapshot.filter_traces([own])
            for stat in snapshot.statistics("lineno")[:top]:
                print(f"TRACEMALLOC {stat.size / mib:8.2f} MiB {stat.count:8d} {stat.traceback[0]}")
            for stat in snapshot.statistics("traceback")[:5]:
                print(f"TRACEMALLOC STACK {stat.size / mib:8.2f} MiB {stat.count:8d}")
                for line in stat.traceback.format(most_recent_first=True):
                    print(f"    {line}")
        print("OBJECTS", self._objects.most_common(top), flush=True)


def _trace_unconfirmed_starts() -> None:
    """Log why a start's answer was lost (the library waits for it silently)."""
    from piktid_prefect.wire import _status

    original = _status.unconfirmed

    def traced(job: Any, detail: str) -> Any:
        print(f"UNCONFIRMED START {time.time():.3f} {job.label}: {detail}", flush=True)
        return original(job, detail)

    _status.unconfirmed = traced


def _run(job: Job) -> dict[str, Any]:
    _trace_unconfirmed_starts()
    if job.mode == "prefect":
        return run_prefect(job)
    if job.mode == "bare":
        from batchbench.bare import run_bare

        return run_bare(job)
    if job.mode == "sequential":
        from batchbench.sequential import run_sequential

        return run_sequential(job)
    raise ValueError(f"unknown mode {job.mode!r}")


def main(argv: list[str]) -> None:
    """Run the job file ``argv[0]``; profile it with cProfile if ``argv[1]`` is given."""
    job = Job.read(Path(argv[0]))
    if len(argv) > 1:
        import cProfile

        profiler = cProfile.Profile()
        result = profiler.runcall(_run, job)
        profiler.dump_stats(argv[1])
    else:
        result = _run(job)
    result["peak_rss_mb"] = _peak_rss_mb()
    Path(job.result_path).write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
