"""Artifact cost: what the run's pictures (previews, contact sheets) add, in time and memory.

    python benchmarks/artifacts.py                  # 1,000 outputs of 40 photos, ~1-2 minutes
    python benchmarks/artifacts.py --outputs 200    # smaller

One ``RunDisplay`` per mode, each in a fresh process against the same real Prefect server
(``prefect_test_harness``): every output is reported as delivered, then the table and
the sheets are sent. The output files are real JPEGs (1024 x 768, ~150 KB, as PiktID
returns) on disk. Modes: the default budget (``PIKTID_ARTIFACT_MAX_BYTES`` = 2 MB) and
text only (``0``), i.e. with and without thumbnails. Reported per mode: seconds spent in
``delivered()`` on the fan-out loop (all outputs), seconds from ``finish()`` to ``close()``
returning (the tail the flow waits for), the process's peak RSS, and the bytes of the
run's artifacts read back from the server. The table goes to stdout and to
``benchmarks/results/artifacts.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "artifacts.md"
VARIATIONS_PER_IMAGE = 25
DISTINCT_FILES = 50  # output files on disk; outputs use them round-robin


def _photo(path: Path, seed: int) -> None:
    """A 1024 x 768 JPEG that compresses about like a photo (smooth, some detail)."""
    from PIL import Image, ImageFilter

    rng = random.Random(seed)
    small = Image.new("RGB", (64, 48))
    small.putdata(
        [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(64 * 48)]
    )
    big = small.resize((1024, 768), Image.Resampling.BICUBIC).filter(ImageFilter.DETAIL)
    big.save(path, quality=90)


def _child(args: argparse.Namespace) -> None:
    """One mode, in this fresh process: prints a JSON line of figures."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
    from prefect.context import get_run_context

    from piktid_prefect.artifacts.display import RunDisplay
    from piktid_prefect.runtime.results import OutputRecord, UploadedImage

    files = sorted(Path(args.files).glob("*.jpg"))
    images = [f"photo{i:03d}" for i in range(-(-args.outputs // VARIATIONS_PER_IMAGE))]
    records = [
        OutputRecord(
            path=str(files[n % len(files)]),
            id_image="bench",
            image=images[n // VARIATIONS_PER_IMAGE],
            image_sha256=images[n // VARIATIONS_PER_IMAGE],
            kind="person",
            person=n % 3,
            keyword={"Location": f"Place {n % 8}"},
            seed=n,
            link=f"https://api.piktid.example/results/{n}.jpg",
            seconds=8.0,
            sha256="0" * 64,
        )
        for n in range(args.outputs)
    ]
    originals = [
        UploadedImage(
            image_id="bench",
            sha256=name,
            name=name,
            account_key="bench",
            uploaded_at=0.0,
            source=str(files[i % len(files)]),
        )
        for i, name in enumerate(images)
    ]
    figures: dict[str, Any] = {}

    @flow(name="piktid-artifact-bench")
    def bench() -> str:
        display = RunDisplay(len(records), originals=originals, max_artifact_bytes=args.budget)
        began = time.perf_counter()
        for record in records:
            display.delivered(record)
        figures["delivered_s"] = time.perf_counter() - began
        began = time.perf_counter()
        display.finish(records)
        display.close()
        figures["finish_to_close_s"] = time.perf_counter() - began
        return str(get_run_context().flow_run.id)  # type: ignore[union-attr]

    run_id = bench()
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    kinds: dict[str, int] = {}
    for artifact in artifacts:
        kinds[artifact.type or "?"] = kinds.get(artifact.type or "?", 0) + 1
    figures["artifact_bytes"] = sum(len(json.dumps(a.data)) for a in artifacts)
    figures["kinds"] = kinds
    figures["peak_rss_mb"] = _peak_rss_mb()
    print("FIGURES " + json.dumps(figures))


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outputs", type=int, default=1000)
    parser.add_argument("--no-save", action="store_true", help="do not write results/")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--files", help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    from piktid_prefect.artifacts.display import DEFAULT_ARTIFACT_MAX_BYTES

    with tempfile.TemporaryDirectory(prefix="piktid-artifact-bench-") as work:
        for n in range(DISTINCT_FILES):
            _photo(Path(work, f"out{n:03d}.jpg"), n)
        file_kb = sum(p.stat().st_size for p in Path(work).glob("*.jpg")) / DISTINCT_FILES / 1024
        rows = []
        with prefect_test_harness(server_startup_timeout=120):
            env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
            for label, budget in (
                (
                    f"thumbnails ({DEFAULT_ARTIFACT_MAX_BYTES:,} B budget)",
                    DEFAULT_ARTIFACT_MAX_BYTES,
                ),
                ("text only (budget 0)", 0),
            ):
                done = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        "--files",
                        work,
                        "--outputs",
                        str(args.outputs),
                        "--budget",
                        str(budget),
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=900,
                    check=True,
                )
                line = next(x for x in done.stdout.splitlines() if x.startswith("FIGURES "))
                rows.append((label, json.loads(line.removeprefix("FIGURES "))))
    images = -(-args.outputs // VARIATIONS_PER_IMAGE)
    lines = [
        f"`python benchmarks/artifacts.py --outputs {args.outputs}`: {args.outputs} outputs of "
        f"{images} photos, output files 1024 x 768 JPEG (~{file_kb:.0f} KB); "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}.",
        "",
        "| mode | delivered() on the loop, all outputs (s) | finish() to close() (s) "
        "| peak RSS (MB) | artifact bytes read back | artifacts |",
        "|---|---|---|---|---|---|",
    ]
    for label, f in rows:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(f["kinds"].items()))
        lines.append(
            f"| {label} | {f['delivered_s']:.3f} | {f['finish_to_close_s']:.2f} "
            f"| {f['peak_rss_mb']:.0f} | {f['artifact_bytes']:,} | {kinds} |"
        )
    (with_, without) = (rows[0][1], rows[1][1])
    lines += [
        "",
        f"Thumbnails add {with_['finish_to_close_s'] - without['finish_to_close_s']:+.2f} s "
        f"to the end of the run and {with_['peak_rss_mb'] - without['peak_rss_mb']:+.0f} MB "
        "of peak RSS.",
    ]
    table = "\n".join(lines)
    print(table)
    if not args.no_save:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(table + "\n")


if __name__ == "__main__":
    main()
