"""How the cost of a batch grows with its size, on a PostgreSQL-backed Prefect server.

    python benchmarks/growth.py                      # 250, 1,000 and 5,000 outputs
    python benchmarks/growth.py --sizes 250 1000 --time-scale 0.25

``batch_variations`` (three-person photos x 3 persons x 8 Locations + 8 backgrounds =
32 outputs per photo) in a fresh subprocess per size, against the emulator of
``benchmarks/run.py`` (same latencies), with ``PREFECT_API_URL`` on ``prefect server
start`` backed by a throwaway PostgreSQL (``deployments/postgres.sh``). Per size:

- client CPU-ms per output (user + system of the flow's process),
- server CPU-ms per output (the Prefect server's processes, and PostgreSQL's),
- peak RSS of the flow's process,
- Prefect API requests per output (HTTP, counted in the flow's process), events and task
  runs per output (counted by the server),
- makespan / the API's lower bound (``batchbench.bound``).

Prints one JSON line per size, then a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batchbench import spec  # a sibling package
from batchbench.bound import BatchShape, Latencies, ideal_client, lower_bound
from batchbench.budget import slot_budget
from batchbench.driver import _times
from batchbench.images import make_images
from batchbench.spec import Job
from soak_postgres import Stack, _cpu_seconds

from piktid_prefect.emulator import EmulatorServer

BENCH_DIR = Path(__file__).resolve().parent

OUTPUTS_PER_IMAGE = spec.PERSONS_PER_IMAGE * len(spec.PERSON_KEYWORDS) + len(
    spec.BACKGROUND_KEYWORDS_USED
)  # 32


def latencies() -> Latencies:
    return Latencies(
        generation=spec.GENERATION_SECONDS,
        warmup=spec.MASK_WARMUP_SECONDS,
        upload=spec.UPLOAD_SECONDS,
        download=spec.DOWNLOAD_SECONDS,
        stagger=spec.STAGGER_SECONDS,
        poll=spec.POLL_MIN_INTERVAL_SECONDS,
        max_in_flight=spec.MAX_IN_FLIGHT,
    )


def child(job_path: str) -> None:
    """The flow's process: count its HTTP requests to the Prefect API, run the job."""
    api = os.environ["PREFECT_API_URL"]
    counts: Counter[str] = Counter()

    def counted(send: Any, is_async: bool) -> Any:
        def key(request: httpx.Request) -> str | None:
            url = str(request.url)
            return (
                f"{request.method} {url[len(api) :].split('?')[0]}" if url.startswith(api) else None
            )

        if is_async:

            async def asend(self: Any, request: httpx.Request, **kwargs: Any) -> Any:
                if (name := key(request)) is not None:
                    counts[name] += 1
                return await send(self, request, **kwargs)

            return asend

        def ssend(self: Any, request: httpx.Request, **kwargs: Any) -> Any:
            if (name := key(request)) is not None:
                counts[name] += 1
            return send(self, request, **kwargs)

        return ssend

    httpx.AsyncClient.send = counted(httpx.AsyncClient.send, True)  # type: ignore[method-assign]
    httpx.Client.send = counted(httpx.Client.send, False)  # type: ignore[method-assign]
    from batchbench.child import main

    main([job_path])
    job = Job.read(Path(job_path))
    result = json.loads(Path(job.result_path).read_text())
    result["api_requests"] = dict(counts)
    Path(job.result_path).write_text(json.dumps(result))


def server_count(api_url: str, path: str, body: dict[str, Any]) -> int:
    answer = httpx.post(f"{api_url}{path}", json=body, timeout=120)
    answer.raise_for_status()
    data = answer.json()
    return int(data["total"] if isinstance(data, dict) else data)


def run_size(
    stack: Stack, emulator: EmulatorServer, images: list[Path], work: Path
) -> dict[str, Any]:
    folder = work / f"{len(images)}-images"
    folder.mkdir(parents=True)
    account = emulator.create_account(credits=1_000_000)
    scale = float(emulator.config.time_scale)
    job = Job(
        mode="prefect",
        base_url=account.base_url,
        access_token=account.access_token,
        images=[str(p) for p in images],
        person_keywords=spec.PERSON_KEYWORDS,
        background_keywords=spec.BACKGROUND_KEYWORDS_USED,
        time_scale=scale,
        out_dir=str(folder / "out"),
        result_path=str(folder / "result.json"),
        extra={"poll_seconds": spec.POLL_MIN_INTERVAL_SECONDS, "stagger_seconds": 15.0},
    )
    env = {**stack.env, "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), str(BENCH_DIR.parent)])}
    command = [sys.executable, __file__, "--child", str(job.write(folder / "job.json"))]
    since = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 1))
    task_runs_before = server_count(stack.api_url, "/task_runs/count", {})
    server_cpu_before = _cpu_seconds(stack.server.pid)
    postgres_cpu_before = _cpu_seconds(stack.postgres_pid())
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with (folder / "log.txt").open("w") as log:
        done = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError((folder / "log.txt").read_text()[-3000:])
    emulator.drain()
    server_cpu = _cpu_seconds(stack.server.pid) - server_cpu_before
    postgres_cpu = _cpu_seconds(stack.postgres_pid()) - postgres_cpu_before
    until = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 1))
    result = json.loads(Path(job.result_path).read_text())
    outputs = int(result["outputs"])
    client_cpu = (children_after.ru_utime - children_before.ru_utime) + (
        children_after.ru_stime - children_before.ru_stime
    )
    time.sleep(5)  # let the server write the run's last events
    events = server_count(
        stack.api_url,
        "/events/filter",
        {"filter": {"occurred": {"since": since, "until": until}}, "limit": 1},
    )
    task_runs = server_count(stack.api_url, "/task_runs/count", {}) - task_runs_before
    shape = BatchShape(len(images), spec.PERSONS_PER_IMAGE, 8, 8)
    bound = lower_bound(shape, latencies())["bound"]
    # What polling every 3 s alone costs: a client with no overhead of its own.
    ideal_budget = ideal_client(shape, latencies())
    api_seconds = float(result["real_seconds"]) / scale
    # The child's monotonic start on the emulator's virtual clock (same machine clock).
    began = (
        emulator.engine.clock.now() - (time.monotonic() - float(result["began_monotonic"])) / scale
    )
    generations = emulator.stats(account.email).generations
    budget = slot_budget(map(_times, generations), spec.MAX_IN_FLIGHT, began, began + api_seconds)
    api_requests = sum(result["api_requests"].values())
    return {
        "outputs": outputs,
        "failures": int(result["failures"]),
        "client_cpu_ms_per_output": round(1000 * client_cpu / outputs, 1),
        "server_cpu_ms_per_output": round(1000 * server_cpu / outputs, 1),
        "postgres_cpu_ms_per_output": round(1000 * postgres_cpu / outputs, 1),
        "peak_rss_mb": round(float(result["peak_rss_mb"]), 1),
        "peak_threads": result["peak_threads"],
        "api_requests_per_output": round(api_requests / outputs, 2),
        "api_requests_top": Counter(result["api_requests"]).most_common(8),
        "events_per_output": round(events / outputs, 2),
        "task_runs_per_output": round(task_runs / outputs, 2),
        "makespan_api_seconds": round(float(result["real_seconds"]) / scale, 1),
        "bound_api_seconds": round(bound, 1),
        "makespan_over_bound": round(float(result["real_seconds"]) / scale / bound, 3),
        "ideal_client_over_bound": round(ideal_budget.makespan / bound, 3),
        "emulator_requests": sum(emulator.stats(account.email).requests.values()),
        # Where the makespan went (API-s): see batchbench.budget.
        "budget": {k: round(v, 1) for k, v in vars(budget).items()},
        "ideal_budget": {k: round(v, 1) for k, v in vars(ideal_budget).items()},
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| outputs | client CPU-ms/output | server CPU-ms/output (Prefect + PostgreSQL) "
        "| peak RSS | API requests/output | events/output | task runs/output "
        "| makespan / bound | ideal client / bound |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['outputs']:,} | {r['client_cpu_ms_per_output']} "
            f"| {r['server_cpu_ms_per_output']} + {r['postgres_cpu_ms_per_output']} "
            f"| {r['peak_rss_mb']} MB | {r['api_requests_per_output']} "
            f"| {r['events_per_output']} | {r['task_runs_per_output']} "
            f"| {r['makespan_api_seconds']} / {r['bound_api_seconds']} API-s = "
            f"{r['makespan_over_bound']} x | {r['ideal_client_over_bound']} x |"
        )
    return "\n".join(lines)


def main() -> None:
    """Set up PostgreSQL, the server and the emulator; run every size; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 1000, 5000])
    parser.add_argument("--time-scale", type=float, default=0.5)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    work = Path(tempfile.mkdtemp(prefix="piktid-growth-"))
    counts = [math.ceil(size / OUTPUTS_PER_IMAGE) for size in args.sizes]
    images = make_images(work / "images", max(counts))
    stack = Stack(work)
    rows = []
    try:
        with EmulatorServer(spec.emulator_config(args.time_scale)) as emulator:
            run_size(stack, emulator, images[:1], work / "warm-up")  # the server's first use
            for count in counts:
                row = run_size(stack, emulator, images[:count], work)
                print(json.dumps(row), flush=True)
                rows.append(row)
    finally:
        stack.stop()
    print(table(rows))
    print(f"work folder: {work}")


if __name__ == "__main__":
    main()
