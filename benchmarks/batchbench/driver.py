"""Runs each client in a fresh subprocess against one emulator and reads its books."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from batchbench.budget import GenerationTimes, SlotBudget, slot_budget
from batchbench.spec import Job
from piktid_prefect.emulator import EmulatorServer, GenerationRecord

__all__ = ["Measured", "Runner", "check_uploads"]

BENCH_DIR = Path(__file__).resolve().parents[1]
FILES = "GET /files"


@dataclass
class Measured:
    """One client run: its own timing and memory, and the emulator's counts for it."""

    mode: str
    outputs: int
    real_seconds: float
    api_seconds: float
    peak_rss_mb: float
    requests: dict[str, int]
    rate_limited_polls: int
    generations: int
    warmups_paid: int
    budget: SlotBudget
    child: dict[str, Any] = field(default_factory=dict)

    @property
    def polls(self) -> int:
        """Notification polls (answered or rate-limited)."""
        return self.requests.get("POST /notification_by_name_json", 0)


class Runner:
    """Starts client subprocesses; every run gets a fresh emulator account.

    Args:
        emulator: The running emulator (in this process).
        workdir: Where job files, outputs and logs go.
        env: Extra environment of the subprocesses (Prefect API URL, storage paths).
    """

    def __init__(self, emulator: EmulatorServer, workdir: Path, env: dict[str, str]) -> None:
        self.emulator = emulator
        self.workdir = workdir
        self.env = {
            **os.environ,
            **env,
            "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), os.environ.get("PYTHONPATH", "")]),
        }
        self.count = 0

    @property
    def time_scale(self) -> float:
        """Real seconds per API-second."""
        return float(self.emulator.config.time_scale)

    def run(
        self,
        mode: str,
        images: list[Path],
        person_keywords: list[dict[str, str]],
        background_keywords: list[dict[str, str]],
        *,
        extra: dict[str, Any],
        profile: bool = False,
        timeout_seconds: float = 1200.0,
    ) -> Measured:
        """Run one client to the end; raise if it failed."""
        self.count += 1
        name = f"{self.count:02d}-{mode}"
        folder = self.workdir / name
        folder.mkdir(parents=True)
        account = self.emulator.create_account(credits=1_000_000)
        job = Job(
            mode=mode,
            base_url=account.base_url,
            access_token=account.access_token,
            images=[str(p) for p in images],
            person_keywords=person_keywords,
            background_keywords=background_keywords,
            time_scale=self.time_scale,
            out_dir=str(folder / "out"),
            result_path=str(folder / "result.json"),
            extra=extra,
        )
        command = [sys.executable, "-m", "batchbench.child", str(job.write(folder / "job.json"))]
        if profile:
            command.append(str(folder / "profile.pstats"))
        files_before = self.emulator.stats().requests.get(FILES, 0)
        with (folder / "log.txt").open("w") as log:
            done = subprocess.run(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout_seconds
            )
        if done.returncode != 0:
            tail = (folder / "log.txt").read_text()[-3000:]
            raise RuntimeError(f"{name} failed (exit {done.returncode}):\n{tail}")
        self.emulator.drain()
        result = json.loads(Path(job.result_path).read_text())
        stats = self.emulator.stats(account.email)
        requests = dict(stats.requests)
        requests[FILES] = self.emulator.stats().requests.get(FILES, 0) - files_before
        api_seconds = float(result["real_seconds"]) / self.time_scale
        # The child's monotonic start on the emulator's virtual clock (same machine clock).
        began = self.emulator.engine.clock.now() - (
            (time.monotonic() - float(result["began_monotonic"])) / self.time_scale
        )
        return Measured(
            mode=mode,
            outputs=int(result["outputs"]),
            real_seconds=float(result["real_seconds"]),
            api_seconds=api_seconds,
            peak_rss_mb=float(result["peak_rss_mb"]),
            requests=requests,
            rate_limited_polls=stats.rate_limited_polls,
            generations=len(stats.generations),
            warmups_paid=sum(g.warmup_paid for g in stats.generations),
            budget=slot_budget(
                map(_times, stats.generations), job.max_in_flight, began, began + api_seconds
            ),
            child=result,
        )


def _times(record: GenerationRecord) -> GenerationTimes:
    completed = record.completed_at if record.completed_at is not None else record.due_at
    seen = record.seen_at if record.seen_at is not None else completed
    return GenerationTimes(record.started_at, record.due_at, completed, seen)


def check_uploads(emulator: EmulatorServer, images: list[Path], persons: int) -> None:
    """Upload each image once (a throwaway account): each must show ``persons`` approved."""
    account = emulator.create_account(credits=0)
    headers = {"Authorization": f"Bearer {account.access_token}"}
    with httpx.Client(base_url=account.base_url, headers=headers, timeout=60.0) as client:
        for path in images:
            files = {"file": (path.name, path.read_bytes(), "image/jpeg")}
            answer = client.post("/edit/target", files=files, data={"options": "{}"})
            answer.raise_for_status()
            found = [p for p in answer.json()["coordinates_list"] if p.get("approve")]
            if answer.json()["num_persons"] != persons or len(found) != persons:
                raise RuntimeError(f"{path.name}: PiktID sees {len(found)} persons, not {persons}")
